#!/usr/bin/env python3
"""Writes the chat-template fixtures for bale's C jinja engine (runtime/chat).

Renders with transformers' own jinja setup (_compile_jinja_template: ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, loopcontrols, its tojson/raise_exception/strftime_now/namespace) so the
expected strings are exactly what apply_chat_template produces.

Outputs (all under tests/data/chat/):
  qwen3.jinja, deepseek_v3.jinja  copies of the templates in ../shared/fixtures (Apache-2.0 / MIT)
  cases.jsonl     {"id", "template", "context", "expected"} or {"..., "error": "..."}; the context is
                  exactly what the template sees (messages after transformers' normalisation)
  snippets.jsonl  {"id", "template", "context", "expected"} or {"error", "kind", "line"}

Usage: python3 tools/reference/make_template_fixtures.py   (from the repository root)
"""
import copy
import json
import os
import sys

import jinja2
from transformers.utils import chat_template_utils as ctu

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "chat")
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "fixtures")


def load_templates():
    t = {}
    for tid, sub in (("qwen3", "qwen3-tokenizer"), ("deepseek_v3", "deepseek-v3-tokenizer")):
        src = os.path.join(SHARED, sub, "tokenizer_config.json")
        dst = os.path.join(OUT, tid + ".jinja")
        if os.path.exists(src):
            text = json.load(open(src, encoding="utf-8"))["chat_template"]
            with open(dst, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        t[tid] = open(dst, encoding="utf-8", newline="").read()
    t["deepseek_r1_0528"] = open(os.path.join(OUT, "deepseek_r1_0528.jinja"), encoding="utf-8", newline="").read()
    return t


TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Get the weather for a city.",
                                      "parameters": {"type": "object", "properties": {
                                          "city": {"type": "string", "description": "City name, e.g. Zürich"},
                                          "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                                          "required": ["city"]}}},
    {"type": "function", "function": {"name": "add", "description": "Add two numbers.",
                                      "parameters": {"type": "object", "properties": {
                                          "a": {"type": "number"}, "b": {"type": "number", "default": 1.5}},
                                          "required": ["a"]}}},
]


def tc(name, args, as_string):
    return {"type": "function", "function": {"name": name,
                                             "arguments": json.dumps(args, ensure_ascii=False) if as_string else args}}


S = {"role": "system", "content": "You are a helpful assistant."}
U1 = {"role": "user", "content": "Hello! How are you?"}
A1 = {"role": "assistant", "content": "I'm fine, thanks. How can I help?"}
U2 = {"role": "user", "content": "What is 2+2?"}


def conversations():
    c = []
    c.append(("single_user", [U1], {}))
    c.append(("system_user", [S, U1], {}))
    c.append(("multi_turn", [S, U1, A1, U2], {}))
    c.append(("multi_turn_no_system", [U1, A1, U2, {"role": "assistant", "content": "4"}], {}))
    c.append(("two_systems", [S, {"role": "system", "content": "Answer briefly."}, U1], {}))
    c.append(("unicode", [{"role": "system", "content": "Réponds en français. 日本語もOK 🙂"},
                          {"role": "user", "content": "Ça va? \u00e9\u0301 «quotes» \"dq\" 'sq' \\ back\tslash\n新しい行"},
                          {"role": "assistant", "content": "Très bien ✓ — 谢谢"}], {}))
    c.append(("empty_content", [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}], {}))
    c.append(("think_in_content", [U1, {"role": "assistant", "content": "<think>\nThe user greets me.\n</think>\n\nHi there!"},
                                   U2], {}))
    c.append(("think_last_turn", [U1, {"role": "assistant", "content": "<think>\nreasoning here\n</think>\n\nFinal answer."}], {}))
    c.append(("reasoning_content", [U1, {"role": "assistant", "content": "Hello!", "reasoning_content": "Greet back."},
                                    U2, {"role": "assistant", "content": "4", "reasoning_content": "2+2=4"}], {}))
    c.append(("tools_defined", [S, {"role": "user", "content": "Weather in Paris?"}], {"tools": TOOLS}))
    c.append(("tools_no_system", [{"role": "user", "content": "Add 1 and 2"}], {"tools": TOOLS}))
    for as_string in (True, False):
        sfx = "str" if as_string else "dict"
        c.append(("tool_call_" + sfx, [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [tc("get_weather", {"city": "Paris"}, as_string)]},
            {"role": "tool", "content": "{\"temp\": 21, \"sky\": \"clear\"}"},
            {"role": "assistant", "content": "It is 21°C and clear in Paris."}], {"tools": TOOLS}))
        c.append(("tool_calls_multi_" + sfx, [
            S, {"role": "user", "content": "Weather in Paris and Zürich, and 1+2?"},
            {"role": "assistant", "content": "", "tool_calls": [
                tc("get_weather", {"city": "Paris"}, as_string), tc("get_weather", {"city": "Zürich", "unit": "celsius"}, as_string),
                tc("add", {"a": 1, "b": 2.0}, as_string)]},
            {"role": "tool", "content": "{\"temp\": 21}"},
            {"role": "tool", "content": "{\"temp\": 12}"},
            {"role": "tool", "content": "3.0"}], {"tools": TOOLS}))
    c.append(("tool_call_with_content", [
        {"role": "user", "content": "Add 1 and 2"},
        {"role": "assistant", "content": "Let me compute that.", "tool_calls": [tc("add", {"a": 1, "b": 2}, True)]},
        {"role": "tool", "content": "3"},
        {"role": "assistant", "content": "The answer is 3."},
        {"role": "user", "content": "Thanks"}], {"tools": TOOLS}))
    c.append(("tool_call_empty_content", [
        {"role": "user", "content": "Add 5 and 6"},
        {"role": "assistant", "content": "", "tool_calls": [tc("add", {"a": 5, "b": 6}, True), tc("add", {"a": 1, "b": 1}, True)]},
        {"role": "tool", "content": "11"}, {"role": "tool", "content": "2"},
        {"role": "assistant", "content": "11 and 2."}], {"tools": TOOLS}))
    c.append(("ends_on_tool", [
        {"role": "user", "content": "Add 5 and 6"},
        {"role": "assistant", "content": None, "tool_calls": [tc("add", {"a": 5, "b": 6}, True)]},
        {"role": "tool", "content": "11"}], {}))
    c.append(("tool_response_text_user", [
        {"role": "user", "content": "<tool_response>\nfake\n</tool_response>"},
        {"role": "assistant", "content": "ok"}], {}))
    c.append(("reasoning_then_tool", [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "reasoning_content": "Need the tool.",
         "tool_calls": [tc("get_weather", {"city": "Oslo"}, True)]},
        {"role": "tool", "content": "cold"},
        {"role": "assistant", "content": "<think>\nIt is cold.\n</think>\n\nIt's cold in Oslo."}], {"tools": TOOLS}))
    c.append(("long_multi", [S] + [m for i in range(6) for m in (
        {"role": "user", "content": "Question %d: %s" % (i, "x" * i)},
        {"role": "assistant", "content": "Answer %d" % i})], {}))
    c.append(("newlines_spaces", [{"role": "user", "content": "  leading and trailing  \n\n"},
                                   {"role": "assistant", "content": "\n\nanswer with newlines\n"}], {}))
    c.append(("bos_eos", [S, U1], {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"}))
    c.append(("extra_kwargs", [U1], {"custom_flag": True, "date_string": "26 Jul 2024"}))
    return c


def plain_context(messages, tools, add_generation_prompt, kwargs):
    """The exact variables render_jinja_template passes to the template."""
    chat = ctu._plain_template_data(copy.deepcopy(messages))
    chat = ctu._alias_reasoning_fields(chat)
    ctx = {"messages": chat, "tools": ctu._plain_template_data(copy.deepcopy(tools)), "documents": None,
           "add_generation_prompt": add_generation_prompt}
    ctx.update(ctu._plain_template_data(copy.deepcopy(kwargs)))
    return ctx


def render_case(template, messages, tools, agp, kwargs):
    # apply_chat_template drops None-valued keys before rendering; do the same
    messages = ctu._normalize_chat_messages(copy.deepcopy(messages))
    try:
        rendered, _ = ctu.render_jinja_template(conversations=[copy.deepcopy(messages)], tools=copy.deepcopy(tools),
                                                chat_template=template, add_generation_prompt=agp,
                                                **copy.deepcopy(kwargs))
        out = {"expected": rendered[0]}
    except Exception as e:  # the C engine must fail too
        out = {"error": "%s: %s" % (type(e).__name__, e)}
    ctx = plain_context(messages, tools, agp, kwargs)
    # Cross-check that the context we store reproduces the real pipeline.
    try:
        direct = ctu._compile_jinja_template(template).render(**copy.deepcopy(ctx))
        if "expected" in out:
            assert direct == out["expected"], "context replay differs"
    except Exception:
        assert "error" in out
    out["context"] = ctx
    return out


def make_cases(templates):
    rows = []
    for tid in ("qwen3", "deepseek_v3", "deepseek_r1_0528"):
        tmpl = templates[tid]
        for name, msgs, extra in conversations():
            extra = dict(extra)
            tools = extra.pop("tools", None)
            variants = [(True, {}), (False, {})]
            if tid == "qwen3":
                variants.append((True, {"enable_thinking": False}))
            if tid != "qwen3":
                extra.setdefault("bos_token", "<｜begin▁of▁sentence｜>")
                extra.setdefault("eos_token", "<｜end▁of▁sentence｜>")
            for agp, more in variants:
                kw = dict(extra)
                kw.update(more)
                cid = "%s/%s/agp%d%s" % (tid, name, int(agp), "/nothink" if more else "")
                r = render_case(tmpl, msgs, tools, agp, kw)
                row = {"id": cid, "template": tid, "context": r["context"]}
                if "expected" in r:
                    row["expected"] = r["expected"]
                else:
                    row["error"] = r["error"]
                rows.append(row)
    return rows


CTX = {
    "s": "Hello World", "e": "", "n": 42, "f": 2.5, "neg": -7, "t": True, "fa": False, "nul": None,
    "l": [3, 1, 2], "sl": ["b", "a", "C"], "d": {"a": 1, "b": [1, 2], "c": {"x": "y"}},
    "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo", "x": None},
             {"role": "user", "content": "bye"}],
    "u8": "héllo wörld ✓",
}

SNIPPETS = [
    # literals and printing
    ("lit_str", "{{ 'a\\'b' }}|{{ \"q\\\"q\" }}|{{ 'tab\\there' }}|{{ 'nl\\nx' }}|{{ '\\u00e9\\x41' }}"),
    ("lit_num", "{{ 1 }} {{ -3 }} {{ 1.0 }} {{ 2.50 }} {{ 1e3 }} {{ 1_000 }} {{ 0.1 + 0.2 }} {{ 1e-7 }} {{ 1e22 }}"),
    ("lit_bool_none", "{{ true }} {{ True }} {{ false }} {{ none }} {{ None }} {{ nul }}"),
    ("lit_list_dict", "{{ [1, 'a', none, true, 1.5] }} {{ {'k': 'v', 'n': [1, {'z': none}]} }} {{ (1, 'x') }} {{ (1,) }} {{ [] }} {{ {} }}"),
    ("repr_quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'nl\\n'] }}"),
    ("adjacent_strings", "{{ 'a' 'b' \"c\" }}"),
    # operators
    ("arith", "{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7.5 // 2 }} {{ 1 + 2.5 }}"),
    ("precedence", "{{ 2 + 3 * 4 }} {{ (2 + 3) * 4 }} {{ 2 * 3 ~ 4 }} {{ (1 + 1) ~ 1 }} {{ 'a' ~ 2 * 3 }} {{ -2 ** 2 }} {{ not 1 == 2 }} {{ l|length - 1 }}"),
    ("concat", "{{ 'a' ~ 1 ~ none ~ true ~ 2.0 ~ [1] ~ undefined_var }}"),
    ("str_ops", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ [1] + [2, 3] }} {{ [0] * 3 }}"),
    ("compare", "{{ 1 == 1.0 }} {{ 1 != 2 }} {{ 2 < 3 }} {{ 3 <= 3 }} {{ 'a' < 'b' }} {{ 4 > 5 }} {{ 5 >= 5 }} {{ [1,2] == [1,2] }} {{ {'a':1} == {'a':1} }} {{ none == none }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }}"),
    ("in_notin", "{{ 'ell' in s }} {{ 'x' not in s }} {{ 2 in l }} {{ 5 in l }} {{ 'a' in d }} {{ 'zz' not in d }} {{ '' in s }}"),
    ("and_or_not", "{{ 1 and 2 }} {{ 0 and 2 }} {{ 0 or 'x' }} {{ '' or none }} {{ not none }} {{ not [] }} {{ true and not false }} {{ l and 'yes' }}"),
    ("cond_expr", "{{ 'yes' if t else 'no' }} {{ 'yes' if fa else 'no' }} [{{ 'only' if fa }}] {{ 1 if nul is none else 2 }}"),
    ("truthiness", "{% for v in [0, 1, '', 'x', [], [0], {}, none, 0.0, 0.5] %}{{ 'T' if v else 'F' }}{% endfor %}"),
    # access
    ("attr_item", "{{ d.a }} {{ d['a'] }} {{ d.c.x }} {{ d['c']['x'] }} {{ msgs[0].role }} {{ msgs[-1]['content'] }} {{ l.1 }} {{ s[0] }} {{ u8[1] }}"),
    ("missing_attr", "[{{ d.zz }}][{{ d['zz'] }}][{{ msgs[1].x }}][{{ l[10] }}][{{ undefined_thing }}]"),
    ("slicing", "{{ l[::-1] }} {{ l[1:] }} {{ l[:1] }} {{ l[-2:] }} {{ s[::-1] }} {{ s[2:5] }} {{ u8[::-1] }} {{ u8[1:4] }} {{ l[::2] }} {{ s[-3:-1] }} {{ l[5:] }} {{ s[3:1:-1] }}"),
    # statements
    ("if_elif_else", "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}other{% endif %},{% endfor %}"),
    ("for_loop_vars", "{% for x in sl %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.length }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }};{% endfor %}"),
    ("for_prev_next", "{% for x in l %}[{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}]{% endfor %}"),
    ("for_filter", "{% for m in msgs if m.role == 'user' %}{{ loop.index }}:{{ m.content }}{{ ',' if not loop.last }}{% endfor %}"),
    ("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in l if x > 10 %}x{% else %}none-kept{% endfor %}|{% for x in l %}{{ x }}{% else %}never{% endfor %}"),
    ("for_dict_items", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for k in d %}{{ k }}{% endfor %}|{% for k, v in d|items %}{{ k }}{% endfor %}"),
    ("for_string", "{% for ch in 'héy' %}[{{ ch }}]{% endfor %}"),
    ("for_nested_loop", "{% for a in [1,2] %}{% for b in ['x','y'] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %}"),
    ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
    ("set_scoping", "{% set x = 1 %}{% for i in [1,2] %}{% set x = x + i %}[{{ x }}]{% endfor %}{{ x }}{% if true %}{% set y = 5 %}{% endif %}{{ y }}"),
    ("set_namespace", "{% set ns = namespace(count=0, names='') %}{% for m in msgs %}{% set ns.count = ns.count + 1 %}{% set ns.names = ns.names ~ m.role[0] %}{% endfor %}{{ ns.count }} {{ ns.names }}"),
    ("set_block", "{% set blk %}A{{ 1 + 1 }}B{% endset %}{{ blk }}|{{ blk|lower }}"),
    ("set_tuple", "{% set a, b = 1, 'two' %}{{ a }}{{ b }}"),
    ("macro_args_defaults", "{% macro greet(name, greeting='Hello', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', 'Hi') }} {{ greet(punct='?', name='Cy') }}"),
    ("macro_recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n }}*{{ fact(n - 1) }}{% endif %}{% endmacro %}{{ fact(5) }}"),
    ("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ s }}{% endcall %}"),
    ("filter_block", "{% filter upper %}shout {{ s }}{% endfilter %}"),
    ("raw_block", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}done"),
    ("comment", "a{# a comment {{ x }} #}b{#- trimmed -#}  c"),
    # whitespace control and trim/lstrip blocks
    ("ws_trim_blocks", "{% if true %}\nline1\n{% endif %}\nline2\n"),
    ("ws_lstrip_blocks", "<ul>\n    {% for x in l %}\n    <li>{{ x }}</li>\n    {% endfor %}\n</ul>"),
    ("ws_minus", "a   {{- 'b' -}}   c  {%- if true -%}  d  {%- endif -%}  e"),
    ("ws_plus", "  {%+ if true %}x{% endif +%}\ny\n    {% if true %}z{% endif %}\n"),
    ("ws_var_no_trim", "{{ 'a' }}\n{{ 'b' }}\n  {{ 'c' }}"),
    ("ws_comment_trim", "x\n  {# c #}\ny"),
    ("ws_crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc\r\n"),
    ("ws_trailing_newline", "text\n"),
    ("ws_midline_block", "a {% if true %}b{% endif %} c\n  x {% if true %}\ny{% endif %}"),
    # filters
    ("f_tojson", "{{ d|tojson }}|{{ 'é\"\\n<>&'|tojson }}|{{ [1, 2.5, none, true]|tojson }}|{{ msgs[0]|tojson(indent=2) }}"),
    ("f_tojson_opts", "{{ d|tojson(indent=4) }}|{{ d|tojson(separators=(',', ':')) }}|{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}|{{ [[], {}]|tojson(indent=2) }}"),
    ("f_tojson_floats", "{{ [1.0, 0.1, 1e-5, 1e16, 123456789.125, -0.0, 3.14159]|tojson }}"),
    ("f_length", "{{ s|length }} {{ u8|length }} {{ l|length }} {{ d|length }} {{ missing|length }} {{ e|count }}"),
    ("f_trim", "[{{ '  x y \\n'|trim }}][{{ 'xxhixx'|trim('x') }}][{{ e|trim }}]"),
    ("f_default", "{{ missing|default('dflt') }} {{ s|default('no') }} {{ e|default('empty', true) }} {{ e|default('empty') }}| {{ nul|default('n') }} {{ nul|default('n', true) }} {{ missing|d('D') }}"),
    ("f_join", "{{ l|join }} {{ l|join(', ') }} {{ sl|join('-') }} {{ msgs|join('|', attribute='role') }}"),
    ("f_first_last", "{{ l|first }} {{ l|last }} {{ s|first }} {{ s|last }} {{ msgs|first|tojson }}"),
    ("f_items", "{% for k, v in {'x': 1, 'y': [2]}|items %}{{ k }}:{{ v }} {% endfor %}"),
    ("f_case", "{{ s|upper }} {{ s|lower }} {{ 'hello wORLD'|capitalize }} {{ 'hello wORLD foo-bar'|title }} {{ u8|upper }}"),
    ("f_replace", "{{ s|replace('o', '0') }} {{ s|replace('l', 'L', 2) }} {{ 'aaa'|replace('a', 'bb') }}"),
    ("f_string_int_float", "{{ 12|string + 'a' }} {{ '42'|int + 1 }} {{ '3.9'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ true|int }} {{ '2.5'|float }} {{ 3|float }} {{ none|string }}"),
    ("f_list", "{{ 'abc'|list }} {{ d|list }} {{ l|list }}"),
    ("f_misc", "{{ -3|abs }} {{ l|sum }} {{ l|min }} {{ l|max }} {{ l|sort }} {{ sl|sort }} {{ sl|sort(reverse=true) }} {{ [1, 2, 1, 3]|unique|list }} {{ l|reverse|list }} {{ 2.567|round(2) }} {{ 2.5|round }}"),
    ("f_select_map", "{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(',') }} {{ msgs|rejectattr('role', 'eq', 'user')|list|length }} {{ [0, 1, 2, '']|select|list }} {{ ['a', 'b']|map('upper')|join }}"),
    ("f_indent_wordcount", "{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'one two  three'|wordcount }}"),
    ("f_dictsort_format", "{{ {'b': 1, 'a': 2}|dictsort }} {{ '%s is %d'|format('x', 3) }}"),
    # tests
    ("t_defined", "{{ s is defined }} {{ missing is defined }} {{ missing is undefined }} {{ d.zz is defined }} {{ nul is defined }}"),
    ("t_types", "{{ nul is none }} {{ s is string }} {{ n is number }} {{ f is number }} {{ t is number }} {{ s is number }} {{ n is integer }} {{ f is float }} {{ t is boolean }} {{ n is boolean }}"),
    ("t_containers", "{{ d is mapping }} {{ l is mapping }} {{ l is sequence }} {{ s is sequence }} {{ d is sequence }} {{ n is sequence }} {{ l is iterable }} {{ s is iterable }} {{ n is iterable }}"),
    ("t_true_false", "{{ t is true }} {{ 1 is true }} {{ fa is false }} {{ 0 is false }} {{ t is not false }}"),
    ("t_misc", "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 2 is eq 2 }} {{ 'a' is in 'abc' }} {{ 2 is in l }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ nul is sameas none }} {{ 2 is gt 1 }} {{ 2 is lt 1 }}"),
    # methods
    ("m_str_startswith", "{{ s.startswith('Hell') }} {{ s.endswith('World') }} {{ s.startswith(('x', 'He')) }} {{ s.endswith('x') }}"),
    ("m_str_split", "{{ 'a,b,,c'.split(',') }} {{ '  a  b c '.split() }} {{ 'a-b-c'.split('-', 1) }} {{ 'x</think>y</think>z'.split('</think>')[-1] }}"),
    ("m_str_strip", "[{{ '  x  '.strip() }}][{{ '\\n\\nx\\n'.lstrip('\\n') }}][{{ 'x\\n\\n'.rstrip('\\n') }}][{{ 'abcxcba'.strip('ab') }}][{{ '  y'.lstrip() }}][{{ 'y  '.rstrip() }}]"),
    ("m_str_misc", "{{ s.replace('World', 'There') }} {{ s.upper() }} {{ s.lower() }} {{ 'hello world'.title() }} {{ 'hello'.capitalize() }} {{ s.find('o') }} {{ s.count('l') }} {{ ', '.join(sl) }} {{ '123'.isdigit() }}"),
    ("m_dict", "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }} {{ d.keys()|list }} {{ d.values()|list|length }} {{ d.items()|list|length }}"),
    ("m_chain", "{{ ('<think>\\nabc\\n</think>\\n\\nfinal').split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}"),
    # globals
    ("g_range", "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5, 0, -2)|list }}"),
    ("g_dict_ns", "{% set dd = dict(a=1, b='x') %}{{ dd.a }}{{ dd['b'] }} {% set ns = namespace(v=[]) %}{% set ns.v = ns.v + [1] %}{{ ns.v }}"),
    ("g_strftime_shape", "{{ strftime_now('%Y')|length }}"),
    ("e_raise", "{% if true %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"),
    ("undefined_print", "[{{ missing }}][{{ missing ~ 'x' }}][{{ missing|upper }}]{% for x in missing %}never{% endfor %}{% if missing %}no{% else %}falsy{% endif %}"),
    ("none_equal", "{{ missing == none }} {{ nul == none }} {{ missing != 1 }}"),
    ("loop_cycle", "{% for x in l %}{{ loop.cycle('odd', 'even') }} {% endfor %}"),
    ("generation_tag", "A{% generation %}B{{ 1 }}{% endgeneration %}C"),
    ("edge_floats", "{{ 1e16 }} {{ 12345678901234567.0 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1.5e300 * 1e10 }} {{ -1.5e300 * 1e10 }} {{ 2 ** 62 }} {{ 7 / 7 }}"),
    ("edge_unicode_trim", "[{{ '\u00a0x\u3000'|trim }}][{{ '\u2003y'.strip() }}][{{ 'ÉCOLE ß'|lower }}][{{ 'émile zola'|title }}]"),
    ("edge_ws_nested", "<a>\n  {%- for x in l %}\n    {%- if x > 1 %}\n  [{{ x }}]\n    {%- endif %}\n  {%- endfor %}\n</a>\n"),
    ("edge_ws_tabs", "x\n\t \t{% if true %}\ty\n\t{% endif %}\nz"),
    ("edge_raw_ws", "a\n  {% raw %}\n{{ x }}\n  {% endraw %}\nb"),
    ("edge_ns_print", "{% set ns = namespace(a=1) %}{{ ns.a }}{{ ns.missing is defined }}"),
    ("edge_cond_chain", "{{ msgs[0]['content'] if msgs else '' }}|{{ 'a' if fa else 'b' if t else 'c' }}|{{ (missing is not defined) or missing }}"),
    ("edge_str_index", "{{ s[-1] }}{{ s[100] is defined }}{{ u8[-1] }}{{ 'abc'[1:] ~ 'abc'[:-1] }}"),
    ("edge_dict_order", "{{ {'z': 1, 'a': 2, 'm': {'q': [1, {'r': none}]}}|tojson }}|{{ {'z': 1, 'a': 2}.keys()|list }}"),
    ("edge_json_escapes", "{{ '\x01\x1f\x7f\u2028\\\\/'|tojson }}"),
    ("edge_tojson_nested_indent", "{{ {'a': [1, [2, {}], {'b': []}], 'c': 'd'}|tojson(indent=2) }}"),
    ("edge_items_tuple_print", "{{ d.items()|list }} {{ {'x': 1}|dictsort }}"),
    ("edge_is_precedence", "{{ not nul is none }} {{ n is number and s is string }} {{ -n|abs }} {{ l|length is odd }}"),
    ("edge_macro_scope", "{% set g = 'global' %}{% macro m() %}{{ g }}{% endmacro %}{% for i in [1] %}{% set g = 'loop' %}{{ m() }}{% endfor %}"),
]

# runtime errors: the C engine must fail (kind must match, message need not)
ERROR_SNIPPETS = [
    ("e_attr_of_undefined", "{{ missing.foo }}"),
    ("e_chained_undefined", "{{ d.zz.yy }}"),
    ("e_undefined_add", "{{ missing + 1 }}"),
    ("e_type_add", "{{ 'a' + 1 }}"),
    ("e_none_in", "{{ 'x' in nul }}"),
    ("e_div_zero", "{{ 1 / 0 }}"),
    ("e_none_method", "{{ nul.strip() }}"),
    ("e_raise_message", "{{ raise_exception('bad role: ' ~ msgs[0].role) }}"),
    ("e_list_append", "{{ l.append(4) }}"),
    ("e_undefined_call", "{{ nosuchfunc(1) }}"),
    ("e_ns_underscore", "{% set ns = namespace(_x=1) %}"),
    ("e_tojson_undefined", "{{ missing|tojson }}"),
    ("e_compare_types", "{{ 1 < 'a' }}"),
    ("e_precedence_concat", "{{ 1 + 1 ~ 1 }}"),
]

# syntax errors: compare jinja2's line number with ours
SYNTAX_SNIPPETS = [
    ("s_unclosed_if", "line1\n{% if true %}\nbody\n"),
    ("s_unclosed_for", "{% for x in l %}\n{{ x }}\n\n"),
    ("s_unclosed_var", "a\nb {{ x \nc"),
    ("s_unclosed_block_tag", "a\n\n{% if x "),
    ("s_bad_endtag", "{% if x %}\n{% endfor %}"),
    ("s_unknown_tag", "ok\n{% frobnicate %}"),
    ("s_bad_expr", "{{ 1 + }}"),
    ("s_unbalanced_paren", "x\n{{ (1 + 2 }}"),
    ("s_unexpected_close", "{{ 1 ) }}"),
    ("s_bad_char", "\n\n{{ 1 $ 2 }}"),
    ("s_missing_in", "{% for x l %}{% endfor %}"),
    ("s_unclosed_comment", "a\n{# never closed\n"),
    ("s_unclosed_string", "{{ 'abc }}"),
    ("s_else_twice", "{% if a %}1{% else %}2{% else %}3{% endif %}"),
    ("s_stray_endif", "text\n\n{% endif %}"),
    ("s_bad_set", "{% set = 3 %}"),
    ("s_break_outside", "{% break %}"),
    ("s_macro_no_name", "{% macro (a) %}{% endmacro %}"),
    ("s_dict_colon", "{{ {'a' 1} }}"),
    ("s_filter_no_name", "{{ x | }}"),
    ("s_unknown_filter", "a\n{{ s|nosuchfilter }}"),
    ("s_unknown_test", "\n\n{{ s is nosuchtest }}"),
]


def snippet_rows():
    rows = []
    for sid, src in SNIPPETS + ERROR_SNIPPETS:
        row = {"id": sid, "template": src, "context": CTX}
        try:
            row["expected"] = ctu._compile_jinja_template(src).render(**copy.deepcopy(CTX))
            if sid == "g_strftime_shape":
                assert row["expected"] == "4"
        except jinja2.exceptions.TemplateSyntaxError as e:
            raise SystemExit("snippet %s does not parse: %s" % (sid, e))
        except Exception as e:
            kind = "raised" if type(e) is jinja2.exceptions.TemplateError else "runtime"
            row["error"] = "%s: %s" % (type(e).__name__, e)
            row["kind"] = kind
        if sid.startswith("e_") != ("error" in row):
            raise SystemExit("snippet %s: unexpected outcome %r" % (sid, row.get("error", row.get("expected"))))
        rows.append(row)
    for sid, src in SYNTAX_SNIPPETS:
        row = {"id": sid, "template": src, "context": CTX, "kind": "syntax"}
        try:
            ctu._compile_jinja_template(src)
            raise SystemExit("snippet %s parsed" % sid)
        except jinja2.exceptions.TemplateSyntaxError as e:
            row["error"] = str(e)
            row["line"] = e.lineno
        except SyntaxError as e:  # e.g. break outside a loop fails when Python compiles the template
            row["error"] = str(e)
        rows.append(row)
    return rows


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    templates = load_templates()
    cases = make_cases(templates)
    write_jsonl(os.path.join(OUT, "cases.jsonl"), cases)
    snips = snippet_rows()
    write_jsonl(os.path.join(OUT, "snippets.jsonl"), snips)
    size = os.path.getsize(os.path.join(OUT, "cases.jsonl"))
    print("cases: %d (%d errors), %d bytes; snippets: %d" % (
        len(cases), sum("error" in c for c in cases), size, len(snips)), file=sys.stderr)
    assert size < 1 << 20


if __name__ == "__main__":
    main()
