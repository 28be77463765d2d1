"""Title and tag generation (reference §1.9) with the real LLM client against the scripted LLM."""

from __future__ import annotations

import pytest

from maghub.chat.language import is_mostly_chinese
from maghub.chat.titles import TitleAndTags, generate_title_and_tags, parse_reply
from maghub.llm.client import LLMClient
from maghub.testing.scripted_llm import Reply, ScriptedLLM
from maghub.usage import Usage

CHINESE_ROUND = [
    {"role": "user", "content": "北京明天的天气怎么样？适合去爬长城吗？"},
    {"role": "assistant", "content": "明天北京晴，气温 12-22 度，很适合爬长城。"},
]
ENGLISH_ROUND = [
    {"role": "user", "content": "How do I reverse a list in Python?"},
    {"role": "assistant", "content": "Use reversed(items) or items[::-1]."},
]
USAGE = {"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129}


def sent_prompt(llm: ScriptedLLM) -> str:
    (request,) = llm.requests
    (message,) = request.body["messages"]
    assert message["role"] == "user"
    return message["content"]


async def test_chinese_conversation_gets_a_chinese_prompt(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(content="<title>北京天气与长城</title>\n<tags>天气,北京,长城</tags>", usage=USAGE))
    result = await generate_title_and_tags(client, CHINESE_ROUND)
    assert result == TitleAndTags("北京天气与长城", ["天气", "北京", "长城"], Usage(120, 9, 129))
    prompt = sent_prompt(llm)
    assert prompt.startswith("请根据下面这段对话") and "<title>标题</title>" in prompt
    assert CHINESE_ROUND[0]["content"] in prompt and CHINESE_ROUND[1]["content"] in prompt
    assert not llm.requests[0].stream  # the model's stream flag is off: a plain JSON call


async def test_english_conversation_gets_an_english_prompt(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(content="<title>Reversing Python lists</title><tags>python, lists</tags>"))
    result = await generate_title_and_tags(client, ENGLISH_ROUND)
    assert result is not None and (result.title, result.tags) == ("Reversing Python lists", ["python", "lists"])
    prompt = sent_prompt(llm)
    assert prompt.startswith("Write a concise title") and "请" not in prompt
    assert "reversed(items)" in prompt


async def test_language_follows_the_user_message(llm: ScriptedLLM, client: LLMClient) -> None:
    # A Chinese question answered in English still gets a Chinese title.
    messages = [{"role": "user", "content": "用 Python 怎么反转列表"}, ENGLISH_ROUND[1]]
    await generate_title_and_tags(client, messages)
    assert sent_prompt(llm).startswith("请根据")


def test_language_detector() -> None:
    assert is_mostly_chinese("今天天气很好")
    assert is_mostly_chinese("用 Python 和 FastAPI 写一个服务")  # 8 characters beat 2 words
    assert not is_mostly_chinese("Translate 你好 into English please")
    assert not is_mostly_chinese("")
    assert not is_mostly_chinese("12345 !?")


async def test_think_is_removed_and_tags_are_case_insensitive(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script("<think>maybe <title>Wrong</title></think>\n<TITLE> Lists in Python </TITLE>\n<Tags>a；b</Tags>")
    result = await generate_title_and_tags(client, ENGLISH_ROUND)
    assert result is not None and (result.title, result.tags) == ("Lists in Python", ["a", "b"])


async def test_the_first_assistant_message_with_text_is_used(llm: ScriptedLLM, client: LLMClient) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "search", "arguments": "{}"}}
    messages = [
        ENGLISH_ROUND[0],
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "search results"},
        {"role": "assistant", "content": "The answer after searching."},
    ]
    await generate_title_and_tags(client, messages)
    prompt = sent_prompt(llm)
    assert "The answer after searching." in prompt and "search results" not in prompt


@pytest.mark.parametrize(
    "messages",
    [[ENGLISH_ROUND[1]], [{"role": "user", "content": "   "}, ENGLISH_ROUND[1]], []],
    ids=["no-user", "blank-user", "nothing"],
)
async def test_nothing_to_name_makes_no_call(llm: ScriptedLLM, client: LLMClient, messages: list) -> None:
    assert await generate_title_and_tags(client, messages) is None
    assert llm.requests == []


@pytest.mark.parametrize(
    "messages", [[ENGLISH_ROUND[0]], [ENGLISH_ROUND[0], {"role": "assistant", "content": ""}]], ids=["none", "empty"]
)
async def test_a_question_without_an_answer_yet_is_named_from_the_question(
    llm: ScriptedLLM, client: LLMClient, messages: list
) -> None:
    llm.script(Reply(content="<title>Reversing lists</title><tags>python</tags>"))
    result = await generate_title_and_tags(client, messages)
    assert result is not None and (result.title, result.tags) == ("Reversing lists", ["python"])
    prompt = llm.requests[0].body["messages"][0]["content"]
    assert ENGLISH_ROUND[0]["content"] in prompt and "Assistant:" not in prompt


@pytest.mark.parametrize("status", [401, 500])
async def test_llm_failure_returns_none(llm: ScriptedLLM, client: LLMClient, status: int) -> None:
    llm.script(Reply(status=status, error_message="nope"))
    assert await generate_title_and_tags(client, ENGLISH_ROUND) is None
    assert llm.requests  # the call was really made (and, for 500, retried)


async def test_huge_messages_are_cut_before_sending(llm: ScriptedLLM, client: LLMClient) -> None:
    messages = [{"role": "user", "content": "q" * 10_000}, {"role": "assistant", "content": "a" * 50_000}]
    await generate_title_and_tags(client, messages)
    prompt = sent_prompt(llm)
    assert "q" * 2000 + "…" in prompt and "q" * 2001 not in prompt
    assert "a" * 2000 + "…" in prompt and "a" * 2001 not in prompt
    assert len(prompt) < 5000


@pytest.mark.parametrize(
    ("reply", "title", "tags"),
    [
        ("Weather in Paris today and tomorrow", "Weather in", []),
        ("关于北京天气的一次详细对话记录", "关于北京天气的一次详", []),
        ("<tags>x,y</tags>\nPython lists", "Python lis", ["x", "y"]),
        (
            "<title>天气</title><tags>天气，北京；出行\n旅游;计划</tags>",
            "天气",
            ["天气", "北京", "出行", "旅游", "计划"],
        ),
        ("<title>T</title><tags>a,b,c,d,e,f,g</tags>", "T", ["a", "b", "c", "d", "e"]),
        ("<title>T</title><tags>a, ,a,,b</tags>", "T", ["a", "b"]),
        ("<title>T</title><tags>" + "x" * 30 + ",短</tags>", "T", ["x" * 20, "短"]),
        ("<title>" + "t" * 150 + "</title>", "t" * 100, []),
        ("<title>  </title>", "", []),
        ("", "", []),
    ],
    ids=[
        "no-title-tag",
        "no-title-tag-chinese",
        "no-title-tag-with-tags",
        "chinese-separators",
        "more-than-five-tags",
        "blank-and-repeated-tags",
        "long-tag",
        "long-title",
        "blank-title",
        "empty-reply",
    ],
)
def test_parse_reply(reply: str, title: str, tags: list[str]) -> None:
    assert parse_reply(reply) == (title, tags)
