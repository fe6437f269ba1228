"""Renders every template in templates/ for every conversation in conversations.jsonl the way Hugging Face transformers
renders chat templates (transformers.utils.chat_template_utils: jinja2's ImmutableSandboxedEnvironment with
trim_blocks=True, lstrip_blocks=True, the loopcontrols extension, a {% generation %} tag, its own tojson filter and the
raise_exception / strftime_now globals), and writes expected/<template>.json.

Each conversation is rendered twice: "full" is the whole conversation with add_generation_prompt=False (what training
sees), "prompt" is the conversation before its last assistant turn with add_generation_prompt=True (what generation sees).
Variables: messages, tools (None when the line has none), documents=None, add_generation_prompt, the template's
bos_token/eos_token from models.json, and the line's chat_template_kwargs. strftime_now formats a fixed time
(2026-03-14 09:26:53) so the outputs do not depend on the day they are made. A render that raises is recorded as
{"error": message}.

It also renders each template of snippets.jsonl (small templates that exercise one feature of the language each:
whitespace control, loops, scoping, macros, filters, tests, printing, slicing, errors) with the variables of
snippet_variables.json into expected/snippets.json.

Run from this directory with jinja2 3.1.6:  python3 render_reference.py
"""
import json
import pathlib
from datetime import datetime

import jinja2
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

FIXED_NOW = datetime(2026, 3, 14, 9, 26, 53)


class GenerationTag(Extension):
    """{% generation %}...{% endgeneration %}: renders its body unchanged (transformers' AssistantTracker, which also
    records the character ranges; the ranges are not needed for text comparisons)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers' own filter: json.dumps without Jinja's HTML escaping
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def strftime_now(fmt):
    return FIXED_NOW.strftime(fmt)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(template, model, line, messages, add_generation_prompt):
    try:
        return template.render(messages=messages, tools=line.get("tools"), documents=None,
                               add_generation_prompt=add_generation_prompt,
                               bos_token=model["bos_token"], eos_token=model["eos_token"],
                               **line.get("chat_template_kwargs", {}))
    except Exception as e:  # the engine must refuse the same conversations
        return {"error": str(e)}


def main():
    here = pathlib.Path(__file__).parent
    models = json.loads((here / "models.json").read_text(encoding="utf-8"))
    lines = [json.loads(l) for l in (here / "conversations.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]
    env = environment()
    (here / "expected").mkdir(exist_ok=True)
    for name, model in sorted(models.items()):
        template = env.from_string((here / "templates" / f"{name}.jinja").read_text(encoding="utf-8"))
        expected = {}
        for line in lines:
            messages = line["messages"]
            last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
            expected[line["id"]] = {
                "full": render(template, model, line, messages, False),
                "prompt": render(template, model, line, messages[:last], True),
            }
        out = here / "expected" / f"{name}.json"
        out.write_text(json.dumps(expected, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        errors = sum(isinstance(v, dict) for r in expected.values() for v in r.values())
        print(f"{out.name}: {len(expected)} conversations, {errors} renders refused")

    variables = json.loads((here / "snippet_variables.json").read_text(encoding="utf-8"))
    snippets = {}
    for line in (here / "snippets.jsonl").read_text(encoding="utf-8").splitlines():
        snippet = json.loads(line)
        try:
            snippets[snippet["id"]] = env.from_string(snippet["template"]).render(**variables)
        except Exception as e:
            snippets[snippet["id"]] = {"error": str(e)}
    (here / "expected" / "snippets.json").write_text(json.dumps(snippets, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"snippets.json: {len(snippets)} snippets")


if __name__ == "__main__":
    main()
