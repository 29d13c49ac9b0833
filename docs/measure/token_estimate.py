"""Measure gomodel's count_tokens estimate against a real tokenizer (docs/anthropic.md).

Not part of the test suite: it needs a tokenizer the project does not depend on.

    pip install bpe-openai   # OpenAI's o200k_base / cl100k_base, data shipped in the wheel
    python docs/measure/token_estimate.py

For each sample Messages request the reference is what OpenAI's documented chat framing gives
for the request as gomodel translates it: the tokenizer's count of every message's text, plus
3 per message and 3 for the reply, plus the tokens of each tool definition's compact JSON. The
samples have no images (the estimate's flat image cost is judged in the docs, not here).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import bpe_openai

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gomodel.translate.messages_request import messages_to_chat  # noqa: E402
from gomodel.translate.messages_tokens import estimate_input_tokens  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "providers"


def schema(**props: str) -> dict[str, object]:
    properties = {name: {"type": "string", "description": d} for name, d in props.items()}
    return {"type": "object", "properties": properties, "required": list(props)[:1]}


TOOLS = [
    {
        "name": "Bash",
        "description": "Executes a bash command in a persistent shell session with an optional"
        " timeout. Use it for git, tests and builds; avoid it for reading files.",
        "input_schema": schema(command="The command to run", timeout="Timeout in ms"),
    },
    {
        "name": "Read",
        "description": "Reads a file from the local filesystem. The path must be absolute.",
        "input_schema": schema(file_path="Absolute path", offset="First line", limit="Lines"),
    },
    {
        "name": "Edit",
        "description": "Replaces an exact string in a file with another string.",
        "input_schema": schema(file_path="Absolute path", old_string="Text", new_string="Text"),
    },
    {
        "name": "Grep",
        "description": "Searches file contents with a regular expression (ripgrep syntax).",
        "input_schema": schema(pattern="The regular expression", path="Where to search"),
    },
]
ZH = "今天天气很好，我们去公园散步吧。请帮我检查一下这段代码有没有错误，特别是异步部分的取消处理。"
RU = "Сегодня хорошая погода. Пожалуйста, проверьте этот код на ошибки, особенно отмену задач."
DE = "Heute ist schönes Wetter. Bitte prüfe diesen Code auf Fehler, besonders die Abbruchbehandlung."


def read(path: str) -> str:
    return (ROOT / path).read_text()


def samples() -> dict[str, dict[str, object]]:
    stream = read("gomodel/translate/messages_stream.py")
    agent = [
        {"role": "user", "content": [{"type": "text", "text": "Why does the stream stall?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me read the stream module."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "Read",
                    "input": {"file_path": "/repo/gomodel/translate/messages_stream.py"},
                },
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": stream}]},
    ]
    fixtures = [json.loads(p.read_text()) for p in sorted(FIXTURES.rglob("*.json"))]
    return {
        "hello (the recorded request)": {
            "messages": [{"role": "user", "content": "Say 'Hello, World!' and nothing else."}]
        },
        "agent turn: docs system prompt, 4 tools, a code file": {
            "system": [{"type": "text", "text": read("docs/architecture.md")}],
            "tools": TOOLS,
            "messages": agent,
        },
        "English prose (README)": {"messages": [{"role": "user", "content": read("README.md")}]},
        "Python source": {"messages": [{"role": "user", "content": read("gomodel/errors.py")}]},
        "JSON tool results (recorded answers)": {
            "messages": [
                {"role": "user", "content": "Summarize these."},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t", "name": "Read", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t", "content": json.dumps(fixtures)}
                    ],
                },
            ]
        },
        "40 short turns": {
            "messages": [
                {"role": "user" if i % 2 == 0 else "assistant", "content": f"Message number {i}."}
                for i in range(40)
            ]
        },
        "Chinese": {"messages": [{"role": "user", "content": ZH * 20}]},
        "Russian": {"messages": [{"role": "user", "content": RU * 20}]},
        "German": {"messages": [{"role": "user", "content": DE * 20}]},
    }


def text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def reference(doc: dict[str, object], enc: bpe_openai.Encoding) -> int:
    chat = messages_to_chat({"max_tokens": 1, **doc}, model="gpt-4o", default_max_tokens=1)
    total = 3
    for message in chat["messages"]:
        total += 3 + len(enc.encode(message.get("role", "")))
        total += len(enc.encode(text_of(message.get("content"))))
        for call in message.get("tool_calls", []):
            total += len(enc.encode(call["function"]["name"] + call["function"]["arguments"]))
    for tool in chat.get("tools", []):
        total += len(enc.encode(json.dumps(tool["function"], separators=(",", ":"))))
    return total


def main() -> None:
    encodings = {name: bpe_openai.get_encoding(name) for name in ("o200k_base", "cl100k_base")}
    print(f"| sample | estimate | {' | '.join(encodings)} |")
    print(f"|---|---:|{'---:|' * len(encodings)}")
    for name, doc in samples().items():
        estimate = estimate_input_tokens(doc)
        cells = []
        for enc in encodings.values():
            ref = reference(doc, enc)
            cells.append(f"{ref} ({(estimate - ref) / ref:+.0%})")
        print(f"| {name} | {estimate} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
