"""Message classification by the readable lexicons: hand-written Chinese and English messages."""

import shutil
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from auditor import schema
from auditor.analyzers import messages
from auditor.case import Case
from auditor.settings import Settings

T0 = datetime(2026, 5, 6, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai


def chat(rows: list[tuple], conversation: str = "g1") -> pl.DataFrame:
    """rows: (minutes after T0, sender_role, text, attachment_kind[, conversation])."""
    frame = pl.DataFrame(
        {"worker_id": ["R1"] * len(rows),
         "conversation_id": [r[4] if len(r) > 4 else conversation for r in rows],
         "sender_role": [r[1] for r in rows], "ts": [T0 + timedelta(minutes=r[0]) for r in rows],
         "text": [r[2] for r in rows], "attachment_kind": [r[3] for r in rows],
         "src": ["S005"] * len(rows), "src_row": list(range(2, len(rows) + 2))},
        schema_overrides={"ts": schema.UTC, "text": pl.String, "attachment_kind": pl.String})
    return schema.validate("messages", schema.conform("messages", frame))


def classify_one(text: str | None, role: str = "self", attachment: str | None = None) -> dict:
    return messages.classify(chat([(0, role, text, attachment)]).lazy()).collect().row(0, named=True)


@pytest.mark.parametrize(("text", "label", "rule"), [
    ("收到", "simple", "ack-zh"),
    ("好的好的，马上到", "simple", "ack-zh"),
    ("收到，马上去取餐", "simple", "ack-zh"),          # accepting a task is not doing one
    ("嗯", "simple", "ack-single"),
    ("1", "simple", "ack-single"),                     # 扣1: acknowledging a group notice
    ("ok", "simple", "ack-single"),
    ("ＯＫ", "simple", "ack-single"),                  # full-width, as some phones type it
    ("👍", "simple", "ack-emoji"),
    ("收到👌", "simple", "ack-zh"),
    ("Got it, thanks!", "simple", "ack-en"),
    ("noted 🙏", "simple", "ack-en"),
    ("今日完成32单，准时率98.5%，在线9.5小时", "substantive", "work-report"),
    ("Daily report: delivered 28 orders, on-time rate 96%", "substantive", "work-report"),
    ("订单B-000123已送达", "substantive", "order-id"),
    ("单号 202605061234567890 顾客没接电话", "substantive", "order-id"),
    ("顾客投诉餐洒了，我已经联系商家处理了", "substantive", "customer-complaint"),
    ("The customer complained about a missing drink and wants a refund", "substantive", "customer-complaint"),
    ("收到，今日32单", "substantive", "work-report"),  # an ack that carries figures is a report
    ("表格22:00前提交", "substantive", "deadline"),
    ("已处理，客户那边解决了", "substantive", "task-done"),
    ("明天早会改到8点，地址在3号楼二楼", "substantive", "address-arrangement"),
    ("今晚爆单，都别下线", "substantive", "dispatch"),
    ("😂😂😂", "social", "emoji-only"),
    ("[微笑][呲牙]", "social", "emoji-only"),
    ("早上好各位", "social", "greeting"),
    ("哈哈哈笑死我了", "social", "joke-laughter"),
    ("晚上一起吃火锅吗", "social", "food-leisure"),
    ("anyone up for bubble tea later?", "social", "food-leisure"),
    ("book a table for saturday", "simple", "no-work-content"),  # "ok" inside "book" is no ack
    ("路上堵车，下次注意", "simple", "no-work-content"),         # neither work content nor chatter
    ("where are you?", "simple", "no-work-content"),
    ("顾客电话打不通，放门口了", "substantive", "customer-contact"),
    ("You were 15 min late today, 20 yuan fine as per the rules", "substantive", "sanction"),
    ("迟到扣款50元", "substantive", "sanction"),
    ("Picked it up, drop-off in 10 min", "substantive", "task-done"),
    ("two orders on hand, then shop 12", "substantive", "dispatch"),
    ("coffee shop later?", "social", "food-leisure"),           # a coffee shop is not "shop 12"
    ("anyone online for a game?", "social", "food-leisure"),    # nor is being online for a game
    ("Happy Labour Day everyone 🎉", "social", "greeting"),
])
def test_text_messages(text, label, rule):
    got = classify_one(text)
    assert (got["label"], got["rule"]) == (label, rule)


def test_sticker_without_text_is_social():
    got = classify_one(None, attachment="sticker")
    assert (got["label"], got["rule"]) == ("social", "sticker")


def test_image_placeholder_is_not_read_as_emoji():
    got = classify_one("[图片]", attachment="image")
    assert (got["label"], got["rule"]) == ("simple", "no-work-content")


def test_supervisor_instructions_are_flagged_and_count_as_work():
    got = classify_one("马上去取餐，不许下线！", role="supervisor")
    assert got["is_instruction"] and got["instruction_rule"] == "urgent-directive"
    assert (got["label"], got["rule"]) == ("substantive", "work-instruction")
    got = classify_one("Return to zone 3 and stay online", role="supervisor")
    assert got["is_instruction"] and got["instruction_rule"] == "dispatch-directive"
    got = classify_one("今晚10点前把日报发群里", role="supervisor")
    assert got["is_instruction"] and got["label"] == "substantive"


def test_the_same_words_from_a_rider_are_not_an_instruction():
    assert not classify_one("马上去取餐，不许下线！", role="self")["is_instruction"]
    assert not classify_one("好的", role="supervisor")["is_instruction"]


def test_image_right_after_an_instruction_is_a_substantive_reply():
    frame = chat([
        (0, "supervisor", "把今天的单量截图发我，马上", None),
        (3, "self", None, "image"),                      # the screenshot: a reply to the instruction
        (150, "self", None, "image"),                    # 2.5 h later: no instruction it answers
        (4, "self", None, "image", "private-chat"),      # another conversation: no instruction there
        (5, "colleague", None, "voice"),
    ])
    out = messages.classify(frame.lazy()).collect()
    assert out.select("label", "rule").rows() == [
        ("substantive", "work-report"),
        ("substantive", "attachment-reply-to-instruction"),
        ("simple", "no-work-content"),
        ("simple", "no-work-content"),
        ("substantive", "attachment-reply-to-instruction"),
    ]


def test_output_keeps_every_message_column_in_order():
    frame = chat([(0, "self", "收到", None), (1, "customer", None, None), (2, "system", "", None)])
    out = messages.classify(frame.lazy()).collect()
    assert out.columns == [*schema.TABLES["messages"], "label", "rule", "is_instruction", "instruction_rule"]
    assert out["src_row"].to_list() == [2, 3, 4]
    assert out["label"].null_count() == 0 and set(out["label"]) <= set(messages.LABELS)


def test_every_rule_is_described_in_both_languages_and_ids_are_unique():
    table = messages.rules_table()
    assert table["rule"].is_unique().all()
    assert table.filter((pl.col("description_zh").str.len_chars() == 0) |
                        (pl.col("description_en").str.len_chars() == 0)).height == 0
    assert set(table["label"]) == {*messages.LABELS, "instruction"}


def copy_lexicons(tmp_path):
    target = tmp_path / "lexicons"
    shutil.copytree(messages.LEXICONS, target)
    return target


def test_an_inspector_can_extend_a_lexicon(tmp_path):
    lexicons = copy_lexicons(tmp_path)
    message = chat([(0, "self", "已在美团后台补录", None)]).lazy()
    assert messages.classify(message).collect()["rule"][0] == "no-work-content"
    with (lexicons / "substantive.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[[rule]]\nid = "back-office"\npriority = 85\ndescription_zh = "后台操作"\n'
                 'description_en = "Back-office work"\nkeywords = ["后台"]\n')
    out = messages.classify(message, lexicons).collect()
    assert out.select("label", "rule").row(0) == ("substantive", "back-office")


@pytest.mark.parametrize(("addition", "message"), [
    ('[[rule]]\nid = "bad"\npriority = 1\ndescription_zh = "x"\ndescription_en = "x"\npatterns = ["(unclosed"]\n',
     r"simple.toml: rule 'bad': a pattern is not a valid regular expression"),
    ('[[rule]]\nid = "bad"\npriority = 1\ndescription_zh = "x"\ndescription_en = "x"\nkeyword = ["typo"]\n',
     r"simple.toml: rule 'bad': unknown key\(s\) \['keyword'\]"),
    ('[[rule]]\nid = "bad"\npriority = 1\ndescription_zh = "x"\ndescription_en = "x"\n',
     r"simple.toml: rule 'bad': a rule needs at least one condition"),
    ('[[rule]]\nid = "ack-zh"\npriority = 1\ndescription_zh = "x"\ndescription_en = "x"\nkeywords = ["x"]\n',
     r"rule ids used more than once: \['ack-zh'\]"),
    ('[[rule]]\nid = "bad"\npriority = 1\ndescription_zh = "x"\ndescription_en = "x"\nkeywords = "收到"\n',
     r"simple.toml: rule 'bad': keywords must be a list of strings"),
    ('[[rule]\nid = "bad"\n', r"simple.toml: not valid TOML"),
])
def test_a_broken_lexicon_is_reported_with_file_and_rule(tmp_path, addition, message):
    lexicons = copy_lexicons(tmp_path)
    with (lexicons / "simple.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n" + addition)
    with pytest.raises(messages.LexiconError, match=message):
        messages.load_rules(lexicons)


def test_run_publishes_the_classified_messages_as_a_measure():
    case = Case(tables={"messages": chat([(0, "self", "收到", None), (1, "self", "今天跑了40单", None)]).lazy()})
    result = messages.run(case, Settings())
    assert result.findings.height == 0
    assert result.measures["messages"]["label"].to_list() == ["simple", "substantive"]
