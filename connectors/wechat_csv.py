"""WeChat chat exports in the common export-tool layout (one phone, all conversations):
``localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender``.

The export's owner is ``case.toml`` ``[owners]`` or else the ``Sender`` of the rows the phone sent
(``IsSender`` = 1). Roles other than ``self`` and ``system`` are left to participants.csv
(``participants_csv.resolve_messages``). Quoted multi-line messages keep their newlines and
``src_row`` is the line where the record starts."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from connectors.base import (ReadOptions, ReadResult, check_rows, empty_named, finish, header_is, integer_columns,
                             local_time, owner_unknown, read_csv_file)

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
    raw, rejections, rows_read, encoding = read_csv_file(path, required=COLUMNS)
    raw = _with_times(integer_columns(raw, "CreateTime", "Type", "SubType"), options.tz)
    is_sender = pl.col("IsSender")
    if not raw["IsSender"].is_in(["0", "1"]).fill_null(True).all():
        is_sender = is_sender.str.strip_chars()
    parsed = {"ts": (pl.col("_ts"), "CreateTime"), "_type": (pl.col("_Type"), "Type"),
              "_sent": (pl.when(is_sender == "1").then(True).when(is_sender == "0").then(False), "IsSender")}
    frame, bad = check_rows(raw, parsed, required=("localId", "TalkerId", "ts", "_type", "_sent"))
    # a CreateTime that does not parse while StrTime does is recovered, and says so
    late = frame.filter(pl.col("CreateTime").is_not_null() & pl.col("_created").is_null()).height
    fallback = frame.filter(pl.col("_created").is_null()).height

    owner, whence = _owner(path, options, frame)
    frame = frame.with_columns(_talker=pl.col("TalkerId").str.strip_chars(),
                               _sender=pl.col("Sender").str.strip_chars().replace("", None))
    sent, talker, sender = pl.col("_sent"), pl.col("_talker"), pl.col("_sender")
    one_to_one = ~pl.col("TalkerId").str.ends_with("@chatroom")
    kind = (pl.when((pl.col("_type") == APP) & (pl.col("_SubType") == APP_LINK)).then(pl.lit("link"))
            .when(pl.col("_type").is_in(list(ATTACHMENTS)))
            .then(pl.col("_type").replace_strict(ATTACHMENTS, default=None, return_dtype=pl.String))
            .when(pl.col("_type").is_in([TEXT, SYSTEM])).then(None).otherwise(pl.lit("other")))
    frame = frame.with_columns(
        worker_id=pl.lit(owner),
        message_id=pl.col("localId").str.strip_chars(),
        conversation_id=talker,
        sender_id=pl.when(sent).then(pl.coalesce(sender, pl.lit(owner)))
        .when(pl.col("_type") == SYSTEM).then(None)
        .otherwise(pl.coalesce(sender, pl.when(one_to_one).then(talker))),
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


def _with_times(raw: pl.DataFrame, tz: str) -> pl.DataFrame:
    """``_created`` (CreateTime, epoch seconds) and ``_ts``: it, or else StrTime read in ``tz``.
    StrTime is parsed only on the rows that need it: parsing every row's cost as much again."""
    created = pl.from_epoch(pl.col("_CreateTime"), time_unit="s")
    raw = raw.with_columns(_created=created.dt.cast_time_unit("us").dt.replace_time_zone("UTC"))
    missing = raw["_created"].is_null().arg_true()
    shown = raw[missing].select(local_time("StrTime", "%Y-%m-%d %H:%M:%S", tz)).to_series()
    return raw.with_columns(_ts=raw["_created"].scatter(missing, shown))


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
