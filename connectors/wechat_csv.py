"""WeChat chat exports in the common export-tool layout (one phone, all conversations):
``localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender``.

The export's owner is ``case.toml`` ``[owners]`` or else the ``Sender`` of the rows the phone sent
(``IsSender`` = 1). Roles other than ``self`` and ``system`` are left to participants.csv
(``participants_csv.resolve_messages``). Quoted multi-line messages keep their newlines and
``src_row`` is the line where the record starts."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from connectors.base import (ReadOptions, ReadResult, check_rows, decode, empty_named, finish, header_is, local_time,
                             owner_unknown, read_csv_rows)

NAME = "wechat-csv"
TABLES = ("messages",)
COLUMNS = ("localId", "TalkerId", "Type", "SubType", "IsSender", "CreateTime", "Status", "StrContent", "StrTime",
           "Remark", "NickName", "Sender")
TEXT, SYSTEM, APP, APP_LINK = 1, 10000, 49, 5
# message Type -> attachment kind; Type 49 ("app message") with SubType 5 is a shared link
ATTACHMENTS = {3: "image", 34: "voice", 43: "video", 47: "sticker", 49: "file"}


def sniff(path: Path, head: bytes) -> float:
    if header_is(head, COLUMNS):
        return 0.95
    return empty_named(path, head, "wechat*.csv")


def read(path: Path, options: ReadOptions) -> ReadResult:
    text, encoding = decode(path)
    raw, rejections, rows_read = read_csv_rows(path, text, required=COLUMNS)
    int_col = {c: pl.col(c).str.strip_chars().cast(pl.Int64, strict=False) for c in ("Type", "SubType")}
    created = pl.from_epoch(pl.col("CreateTime").str.strip_chars().cast(pl.Int64, strict=False), time_unit="s")
    created = created.dt.cast_time_unit("us").dt.replace_time_zone("UTC")
    shown = local_time("StrTime", "%Y-%m-%d %H:%M:%S", options.tz)
    parsed = {"ts": (pl.coalesce(created, shown), "CreateTime"), "_type": (int_col["Type"], "Type"),
              "_sent": (pl.col("IsSender").str.strip_chars().replace_strict({"0": False, "1": True}, default=None,
                                                                             return_dtype=pl.Boolean), "IsSender")}
    frame, bad = check_rows(raw, parsed, required=("localId", "TalkerId", "ts", "_type", "_sent"))
    # a CreateTime that does not parse while StrTime does is recovered, and says so
    late = frame.filter(pl.col("CreateTime").is_not_null() & created.is_null()).height
    fallback = frame.filter(created.is_null()).height

    owner, whence = _owner(path, options, frame)
    sent = pl.col("_sent")
    one_to_one = ~pl.col("TalkerId").str.ends_with("@chatroom")
    sender = pl.col("Sender").str.strip_chars().replace("", None)
    kind = (pl.when((pl.col("_type") == APP) & (int_col["SubType"] == APP_LINK)).then(pl.lit("link"))
            .when(pl.col("_type").is_in(list(ATTACHMENTS)))
            .then(pl.col("_type").replace_strict(ATTACHMENTS, default=None, return_dtype=pl.String))
            .when(pl.col("_type").is_in([TEXT, SYSTEM])).then(None).otherwise(pl.lit("other")))
    frame = frame.with_columns(
        worker_id=pl.lit(owner),
        message_id=pl.col("localId").str.strip_chars(),
        conversation_id=pl.col("TalkerId").str.strip_chars(),
        sender_id=pl.when(sent).then(pl.coalesce(sender, pl.lit(owner)))
        .when(pl.col("_type") == SYSTEM).then(None)
        .otherwise(pl.coalesce(sender, pl.when(one_to_one).then(pl.col("TalkerId").str.strip_chars()))),
        # the display name columns name the conversation: they name the sender only in a one-to-one chat
        sender_name=pl.when(~sent & one_to_one & (pl.col("_type") != SYSTEM)).then(pl.coalesce("Remark", "NickName")),
        sender_role=pl.when(pl.col("_type") == SYSTEM).then(pl.lit("system")).when(sent).then(pl.lit("self")),
        text=pl.col("StrContent").fill_null(""),
        attachment_kind=kind,
    )
    detected = {"format": "WeChat export-tool CSV", "encoding": encoding,
                "time basis": "CreateTime, epoch seconds (UTC)" + (
                    f"; {fallback} row(s) from StrTime read in {options.tz}" + (
                        f" ({late} with an unreadable CreateTime)" if late else "") if fallback else ""),
                "owner": f"{owner} ({whence})"}
    return ReadResult({"messages": finish("messages", frame)}, rows_read, rejections + bad, detected)


def _owner(path: Path, options: ReadOptions, frame: pl.DataFrame) -> tuple[str, str]:
    if options.owner:
        return options.owner, "case.toml [owners]"
    senders = (frame.filter(pl.col("_sent") & pl.col("Sender").is_not_null())
               .group_by("Sender").len().sort(["len", "Sender"], descending=[True, False]))
    if senders.height == 0:
        raise owner_unknown(path, "the export's owner is not in the file (no message sent from this phone with a"
                            " Sender)")
    whence = "Sender of the rows sent from this phone (IsSender = 1)"
    if senders.height > 1:
        whence += f"; {senders.height} different Senders, the most frequent taken: set case.toml [owners] to be sure"
    return senders["Sender"][0], whence
