"""WeChat chat exports in the second common export-tool layout (one conversation per file)::

    id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime

``room_name`` is the conversation (a ``…@chatroom`` id for a group), ``talker`` the sender: the
other person's wxid, a group member's wxid, or for the phone's own messages (``is_sender`` = 1)
either its wxid or the word ``我``. ``type_name`` is the tool's Chinese message-type name (文本,
图片, 语音, 系统通知 …). ``CreateTime`` is local wall-clock time (``YYYY-MM-DD HH:MM:SS``) in the
tools that format it and epoch seconds in those that do not; the basis is decided once per file.

The owner is ``case.toml`` ``[owners]``, else the wxid on the rows sent from this phone; it is
the ``self`` of the export. Other roles are left to participants.csv."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from connectors.base import (
    ReadOptions,
    ReadResult,
    check_rows,
    finish,
    head_text,
    integer_columns,
    local_time,
    owner_unknown,
    read_csv_file,
)

NAME = "wechat-msg-csv"
TABLES = ("messages",)
COLUMNS = ("id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "msg", "src", "CreateTime")
ME = "我"
# type_name -> attachment kind (None: plain text); names not listed are kept as "other"
KINDS = {"文本": None, "粘贴的文本": None, "带有引用的文本消息": None, "图片": "image", "语音": "voice", "视频": "video",
         "动画表情": "sticker", "用户上传的GIF表情": "sticker", "文件": "file", "(分享)卡片式链接": "link",
         "卡片式链接": "link", "(分享)小程序": "link", "(分享)音乐": "link", "合并转发的聊天记录": "file"}
# WeChat's own notices: kept as system messages
SYSTEM = r"^(系统通知|拍一拍|消息撤回\d*|邀请加群)$"


def sniff(path: Path, head: bytes) -> float:
    first = head_text(head).splitlines()[:1]
    if first and tuple(c.strip() for c in first[0].split(",")) == COLUMNS:
        return 0.95
    return 0.0


def read(path: Path, options: ReadOptions) -> ReadResult:
    raw, rejections, rows_read, encoding = read_csv_file(path, required=COLUMNS)
    stamps = raw["CreateTime"].drop_nulls().str.strip_chars()
    epoch = stamps.str.contains(r"^\d+$")
    if len(stamps) and epoch.sum() * 2 > len(stamps):
        raw = integer_columns(raw, "CreateTime")
        ts = pl.from_epoch(pl.col("_CreateTime"), time_unit="s")
        ts, basis = ts.dt.cast_time_unit("us").dt.replace_time_zone("UTC"), "CreateTime, epoch seconds (UTC)"
    else:
        ts, basis = local_time("CreateTime", "%Y-%m-%d %H:%M:%S", options.tz), f"CreateTime, local time in {options.tz}"
    is_sender = pl.col("is_sender").str.strip_chars()
    sent = pl.when(is_sender == "1").then(True).when(is_sender == "0").then(False)
    frame, bad = check_rows(raw, {"ts": (ts, "CreateTime"), "_sent": (sent, "is_sender")},
                            required=("room_name", "ts", "_sent"))
    owner, whence = _owner(path, options, frame)
    kind_name = pl.col("type_name").str.strip_chars()
    system = kind_name.str.contains(SYSTEM).fill_null(False)
    talker = pl.col("talker").str.strip_chars().replace("", None)
    frame = frame.with_columns(
        worker_id=pl.lit(owner),
        message_id=pl.coalesce("MsgSvrID", "id").str.strip_chars(),
        conversation_id=pl.col("room_name").str.strip_chars(),
        sender_id=pl.when(pl.col("_sent")).then(pl.lit(owner)).when(~system).then(talker),
        sender_role=pl.when(system).then(pl.lit("system")).when(pl.col("_sent")).then(pl.lit("self")),
        text=pl.col("msg").fill_null(""),
        attachment_kind=pl.when(~system).then(kind_name.replace_strict(KINDS, default="other", return_dtype=pl.String)),
    )
    detected = {"format": "WeChat export-tool CSV (id,MsgSvrID,type_name,…)", "encoding": encoding,
                "time basis": basis, "owner": f"{owner} ({whence})"}
    return ReadResult({"messages": finish("messages", frame)}, rows_read, rejections + bad, detected)


def _owner(path: Path, options: ReadOptions, frame: pl.DataFrame) -> tuple[str, str]:
    if options.owner:
        return options.owner, "case.toml [owners]"
    own = frame.filter(pl.col("_sent") & pl.col("talker").is_not_null() & (pl.col("talker") != ME))["talker"]
    if own.n_unique() == 1:
        return own[0], "talker of the rows sent from this phone (is_sender = 1)"
    raise owner_unknown(path, "the export's owner is not in the file (the phone's own messages are marked 我, or"
                        " several wxids claim them)")
