"""Renders the chat-template parity goldens: every template under tests/data/templates/<name>/
over the same conversations, with the Jinja environment transformers builds for
apply_chat_template, written to tests/data/templates/goldens/<name>.json for
tests/template/parity_test.cc to compare byte for byte.

    /usr/bin/python3 tools/make_chat_template_goldens.py   # Debian's python3-jinja2
    python3 tools/make_chat_template_goldens.py --verify   # where transformers is installed

The environment reproduces transformers/utils/chat_template_utils.py (_compile_jinja_template,
render_jinja_template): ImmutableSandboxedEnvironment(trim_blocks, lstrip_blocks, loopcontrols
and the {% generation %} tag), raise_exception -> TemplateError, tojson -> json.dumps, and
strftime_now on a fixed clock (2024-07-26 12:34:56.123456, the date minja's goldens use) so the
goldens do not depend on the day. The render context is messages, tools, documents=None,
add_generation_prompt, the tokenizer's special tokens (special_tokens_map from
tokenizer_config.json) and the case's extra kwargs. `--verify` writes nothing: it renders every
committed golden again through transformers' own render_jinja_template (on a machine that has
transformers, e.g. the GPU machine) and reports every difference in text or assistant mask.
"""
import argparse
import datetime
import json
import os
import sys

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATES = os.path.join(ROOT, "tests", "data", "templates")
FIXED_NOW = datetime.datetime(2024, 7, 26, 12, 34, 56, 123456)
SPECIAL_TOKENS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                  "mask_token", "additional_special_tokens"]


class AssistantTracker(Extension):
    """transformers' {% generation %}: renders the body and records its span in the output."""
    tags = {"generation"}

    def __init__(self, environment):
        super().__init__(environment)
        environment.extend(activate_tracker=self.activate_tracker)
        self._rendered_blocks = None
        self._generation_indices = None

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        rv = caller()
        if self._rendered_blocks is not None:
            start = len("".join(self._rendered_blocks))
            self._generation_indices.append((start, start + len(rv)))
        return rv

    def activate_tracker(self, rendered_blocks, generation_indices):
        self._rendered_blocks = rendered_blocks
        self._generation_indices = generation_indices


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: FIXED_NOW.strftime(fmt)
    return env


def special_tokens(config):
    """transformers' special_tokens_map: the set (truthy) special tokens as strings."""
    def content(t):
        return t["content"] if isinstance(t, dict) else t
    out = {}
    for key in SPECIAL_TOKENS:
        v = config.get(key)
        if not v:
            continue
        out[key] = [content(t) for t in v] if key == "additional_special_tokens" else content(v)
    return out


def load_template(name):
    d = os.path.join(TEMPLATES, name)
    config = json.load(open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8"))
    path = os.path.join(d, "chat_template.jinja")
    if os.path.exists(path):
        source = open(path, encoding="utf-8", newline="").read()
    else:
        source = config["chat_template"]
    return source, special_tokens(config)


# ---- conversations ----
def u(text):
    return {"role": "user", "content": text}


def a(text):
    return {"role": "assistant", "content": text}


def s(text):
    return {"role": "system", "content": text}


Q = "What was Apple's revenue in fiscal 2023?"
A = "Apple reported revenue of $383.3 billion for fiscal 2023, down 3% year over year."
UNICODE = "营业收入增长了 12%。Ünïcödé — “quotes” ‘single’ … 🚀📈 עברית العربية ﷺ\u00a0nbsp"
PADDED = "  \n\tPadded question with spaces and a tab?\t \n  "
SPECIAL = "Tokens <|im_start|> & <tags> {{ not jinja }} {% raw %} \\backslash 'single' \"double\""
LINES = "Line one\nLine two\n\nLine four\twith a tab\r\nand a CRLF"
THINK = "<think>\nThe filing lists net sales by segment; sum them.\n</think>\n\nNet sales were $383.3B."

STOCK_TOOL = {"type": "function", "function": {
    "name": "get_stock_price",
    "description": "Closing price of a stock on a date (prix de clôture, 收盘价).",
    "parameters": {"type": "object", "properties": {
        "ticker": {"type": "string", "description": "Ticker symbol, e.g. \"AAPL\""},
        "date": {"type": "string", "description": "ISO date <YYYY-MM-DD>"},
        "currency": {"type": "string", "enum": ["USD", "EUR", "CNY"], "default": "USD"},
    }, "required": ["ticker"]}}}
FX_TOOL = {"type": "function", "function": {
    "name": "convert_currency",
    "description": "Convert an amount between currencies",
    "parameters": {"type": "object", "properties": {
        "amount": {"type": "number", "minimum": 0, "default": 1.5},
        "pairs": {"type": "array", "items": {"type": "string"}},
        "round": {"type": "boolean"},
    }, "required": ["amount", "pairs"]}}}
TOOLS = [STOCK_TOOL, FX_TOOL]


def call(name, args, call_id="call12345", as_string=False):
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": json.dumps(args) if as_string else args}}


def tool_msg(content, call_id="call12345", name="get_stock_price"):
    return {"role": "tool", "tool_call_id": call_id, "name": name, "content": content}


def tool_turn(as_string, content=None, calls=None):
    calls = calls or [call("get_stock_price", {"ticker": "AAPL", "date": "2023-09-29"}, as_string=as_string)]
    return {"role": "assistant", "content": content, "tool_calls": calls}


def conversations():
    """(name, messages, tools, extra kwargs); each is rendered with add_generation_prompt off and on."""
    two_calls = [call("get_stock_price", {"ticker": "AAPL"}, "callAAAA1"),
                 call("convert_currency", {"amount": 383.3, "pairs": ["USD/EUR"]}, "callBBBB2")]
    two_calls_str = [call("get_stock_price", {"ticker": "AAPL"}, "callAAAA1", True),
                     call("convert_currency", {"amount": 383.3, "pairs": ["USD/EUR"]}, "callBBBB2", True)]
    return [
        ("user only", [u(Q)], None, {}),
        ("system and user", [s("You are a careful financial analyst."), u(Q)], None, {}),
        ("two turns", [u(Q), a(A), u("And in 2022?")], None, {}),
        ("system and two turns", [s("Be brief."), u(Q), a(A), u("And in 2022?")], None, {}),
        ("ends with assistant", [u(Q), a(A)], None, {}),
        ("five turns", [s("Be brief.")] + [m for i in range(5) for m in (u(f"Question {i}?"), a(f"Answer {i}."))]
         + [u("Last question?")], None, {}),
        ("empty user", [u("")], None, {}),
        ("empty system and assistant", [s(""), u(Q), a(""), u("")], None, {}),
        ("unicode", [s(UNICODE), u(UNICODE), a(UNICODE), u(UNICODE)], None, {}),
        ("padded whitespace", [s(PADDED), u(PADDED), a(PADDED), u(PADDED)], None, {}),
        ("special characters", [u(SPECIAL), a(SPECIAL), u(SPECIAL)], None, {}),
        ("newlines", [s(LINES), u(LINES), a(LINES), u(LINES)], None, {}),
        ("thinking in history", [u(Q), a(THINK), u("And in 2022?")], None, {}),
        ("thinking last", [u(Q), a(THINK)], None, {}),
        ("reasoning_content field", [u(Q), {"role": "assistant", "content": "Net sales were $383.3B.",
                                            "reasoning_content": "Sum the segments."}], None, {}),
        ("enable_thinking false", [u(Q)], None, {"enable_thinking": False}),
        ("enable_thinking true", [u(Q)], None, {"enable_thinking": True}),
        ("tools, user only", [u(Q)], TOOLS, {}),
        ("tools with system", [s("Use the tools when needed."), u(Q)], TOOLS, {}),
        ("tool call and result", [u(Q), tool_turn(False), tool_msg('{"close": 171.21}'), a("It closed at $171.21.")],
         TOOLS, {}),
        ("tool call with string arguments", [u(Q), tool_turn(True), tool_msg('{"close": 171.21}')], TOOLS, {}),
        ("tool call with content", [u(Q), tool_turn(False, content="Let me look that up."),
                                    tool_msg("171.21")], TOOLS, {}),
        ("tool call, empty content", [u(Q), tool_turn(False, content=""), tool_msg("171.21"),
                                      a("It closed at $171.21.")], TOOLS, {}),
        ("two tool calls", [u(Q), tool_turn(False, calls=two_calls), tool_msg("171.21", "callAAAA1"),
                            tool_msg("352.47", "callBBBB2", "convert_currency")], TOOLS, {}),
        ("two tool calls, string arguments", [u(Q), tool_turn(True, calls=two_calls_str),
                                              tool_msg("171.21", "callAAAA1"),
                                              tool_msg("352.47", "callBBBB2", "convert_currency"),
                                              a("Done.")], TOOLS, {}),
        ("tool result as mapping", [u(Q), tool_turn(False), tool_msg({"close": 171.21, "currency": "USD"})],
         TOOLS, {}),
        ("tool call without tools", [u(Q), tool_turn(False), tool_msg("171.21"), a("171.21")], None, {}),
        ("tools in system prompt (llama)", [s("Be exact."), u(Q)], TOOLS, {"tools_in_user_message": False}),
        ("custom date string", [u(Q)], TOOLS, {"date_string": "01 Jan 2025"}),
        ("builtin tools", [u(Q)], None, {"builtin_tools": ["brave_search", "wolfram_alpha", "code_interpreter"]}),
        ("tools and no user message", [s("Only a system message.")], TOOLS, {}),
        ("two user messages in a row", [u("First."), u("Second.")], None, {}),
        ("assistant first", [a("Hello!"), u(Q)], None, {}),
        ("system in the middle", [u(Q), s("Answer in French."), a(A), u("Et en 2022 ?")], None, {}),
        ("unknown role", [u(Q), {"role": "developer", "content": "Internal note."}], None, {}),
        ("tool call id of the wrong length", [u(Q), tool_turn(False, calls=[call("get_stock_price", {"ticker": "AAPL"},
                                                                              "abc")]),
                                             tool_msg("171.21", "abc")], TOOLS, {}),
        ("long conversation", [s("Be brief.")] + [m for i in range(10) for m in (u(f"Q{i}: {UNICODE[:12]}?"),
                                                                                 a(f"A{i}. {LINES[:8]}"))],
         None, {}),
        ("extra kwargs are ignored", [u(Q)], None, {"unused_flag": True, "custom_number": 3.5}),
    ]


# ---- engine cases: Jinja features one at a time, over a shared context ----
ENGINE_CONTEXT = {
    "xs": [3, 1, 2], "words": ["b", "A", "c", "a"], "d": {"b": 2, "a": 1, "items": "key"},
    "s": "héllo wörld", "n": None, "f": 1.5, "t": True, "empty": [],
    "msgs": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"},
             {"role": "assistant", "content": "yo", "tool_calls": [{"name": "f"}]},
             {"role": "user", "content": " bye "}],
    "tree": [{"name": "a", "children": [{"name": "b", "children": []}, {"name": "c", "children": []}]}],
}

ENGINE_CASES = [
    # text, whitespace control, trim_blocks / lstrip_blocks, comments, raw
    "plain text", "a{{ 'b' }}c", "x\n{% if true %}\ny\n{% endif %}\nz",
    "  {% if true %}\n  in\n  {% endif %}\nout", "a  {{- 'b' -}}  c", "a \n {%- if true -%} \n b {%- endif %}",
    "a {%+ if true %}b{% endif %}", "{% if true +%}\nkeep{% endif %}", "a{# comment #}b", "a\n  {# c #}\nb",
    "a {#- c -#} b", "{% raw %}{{ not }}{% endraw %}", "  {% raw %}x{% endraw %}\ny", "line\r\nwindows\rmac\n",
    "trailing newline\n", "{{ 'a' }}\n{{ 'b' }}\n", "\t{% for x in xs %}\n\t{{ x }}\n\t{% endfor %}\n",
    "{{- 'left' }}   \n  {{ 'mid' -}}   \n right", "{%- if true %} a {% endif -%}\n\n b",
    # literals and printing
    "{{ 1 }} {{ -3 }} {{ 1.0 }} {{ 2.5e3 }} {{ 1e16 }} {{ 1e-5 }} {{ 0.1 + 0.2 }} {{ 1/3 }}",
    "{{ 0x1f }} {{ 0o17 }} {{ 0b101 }} {{ 1_000_000 }} {{ 3.14_15 }}", "{{ none }} {{ None }} {{ true }} {{ False }}",
    "{{ 'it\\'s' }} {{ \"q\\\"q\" }} {{ 'tab\\tnl\\nuni\\u00e9\\x41\\101' }} {{ 'a' 'b' }}",
    "{{ [1, 'a', none, true, 1.5] }} {{ (1,) }} {{ (1, 2) }} {{ () }} {{ {'k': [1, {'j': none}]} }}",
    "{{ ['it\\'s', 'say \"x\"', 'both \\' \"', '\\n\\x01\\u2028é'] }}", "{{ 1, 2 }}", "{{ d }}",
    # arithmetic (Python semantics)
    "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 // -2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7.5 % 2 }} {{ -7.5 // 2 }}",
    "{{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2 ** 0.5 }} {{ 10 / 4 }} {{ 10 / 5 }} {{ true + 1 }} {{ 1 + 1.5 }}",
    "{{ 'ab' * 3 }} {{ 2 * 'xy' }} {{ [1] * 3 }} {{ 'ab' * -1 }} {{ [1, 2] + [3] }} {{ (1,) + (2,) }}",
    "{{ 'a' ~ 1 ~ none ~ true ~ 1.5 ~ nope }}", "{{ -f }} {{ +f }} {{ - - 3 }}", "{{ 1 / 0 }}", "{{ 1 // 0 }}",
    "{{ 'a' + 1 }}", "{{ 1 + 'a' }}", "{{ [1] + (2,) }}", "{{ 'x' - 1 }}", "{{ nope + 1 }}",
    "{{ 'a%sb%dc' % ('X', 4) }} {{ '%s' % 'one' }} {{ '%5.2f|%-4d|%x|%r' % (3.14159, 7, 255, 'q') }}",
    "{{ '%(a)s-%(b)s' % {'a': 1, 'b': 2} }} {{ '%%' % () }}", "{{ '%s %s' % ('a',) }}",
    # comparisons and logic
    "{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' == 'a' }} {{ [1, 2] == [1, 2] }} {{ (1, 2) == [1, 2] }} {{ d == {'a': 1, 'b': 2, 'items': 'key'} }}",
    "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 <= 1 }} {{ 2 >= 3 }} {{ 'é' > 'z' }}",
    "{{ 1 < 'a' }}", "{{ none < 1 }}", "{{ 'b' in 'abc' }} {{ 2 in xs }} {{ 'a' in d }} {{ 'z' not in d }} {{ 1 in (1, 2) }}",
    "{{ 1 in 'abc' }}", "{{ 1 in n }}", "{{ 'x' in nope }}", "{{ true and 'x' }} {{ 0 or 'y' }} {{ '' or [] }} {{ not 0 }} {{ not not 'a' }}",
    "{{ 'yes' if t else 'no' }} {{ 'yes' if n else 'no' }} [{{ 'x' if false }}] {{ 1 if 0 else 2 if 0 else 3 }}",
    # tests
    "{{ x is defined }} {{ xs is defined }} {{ n is none }} {{ n is defined }} {{ d.zz is defined }} {{ d.zz is undefined }}",
    "{{ s is string }} {{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }} {{ t is integer }} {{ t is boolean }} {{ t is number }}",
    "{{ d is mapping }} {{ xs is mapping }} {{ xs is iterable }} {{ s is iterable }} {{ 1 is iterable }} {{ d is sequence }} {{ xs is sequence }}",
    "{{ 4 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ t is true }} {{ 0 is false }} {{ false is false }}",
    "{{ 3 is eq 3 }} {{ 3 is ne 3 }} {{ 1 is lt 2 }} {{ 2 is gt 1 }} {{ 'a' is in 'abc' }} {{ 2 is in xs }} {{ n is sameas none }}",
    "{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'Abc' is lower }} {{ 'upper' is filter }} {{ 'odd' is test }} {{ 'nope' is filter }}",
    "{{ range is callable }} {{ xs is callable }} {{ x is not defined }} {{ n is not none }}", "{{ nope.x is defined }}",
    # filters
    "{{ xs|length }} {{ s|length }} {{ d|count }} {{ nope|length }} {{ xs|first }} {{ xs|last }} {{ s|first }} {{ s|last }} {{ d|first }}",
    "[{{ empty|first }}] [{{ empty|last }}] {{ xs|join(', ') }} {{ s|join('-') }} {{ msgs|join('|', attribute='role') }}",
    "{{ nope|default('dflt') }} {{ n|default('dflt') }} {{ ''|default('dflt', true) }} {{ 0|d('zero', boolean=true) }}",
    "[{{ '  a b  '|trim }}] [{{ 'xxaxx'|trim('x') }}] {{ s|upper }} {{ 'ÉCOLE'|lower }} {{ 'hello world-wide (test)'|title }}",
    "{{ 'hELLO wORLD'|capitalize }} {{ 'a,b'|replace(',', ';') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|reverse }} {{ xs|reverse|list }}",
    "{{ xs|list }} {{ s|list }} {{ d|list }} {{ d|items|list }} {{ nope|items|list }} {{ d|dictsort }} {{ d|dictsort(reverse=true) }}",
    "{{ d|dictsort(by='value') }}", "{{ {'b': 1, 'A': 2, 'a': 3}|dictsort }} {{ {'b': 1, 'A': 2}|dictsort(true) }} {{ {'x': 2, 'y': 1}|dictsort(by='value') }}",
    "{{ xs|sort }} {{ words|sort }} {{ words|sort(case_sensitive=true) }} {{ words|sort(reverse=true) }} {{ msgs|sort(attribute='role')|map(attribute='content')|list }}",
    "{{ words|unique|list }} {{ [1, 1.0, true, 2, '2']|unique|list }} {{ xs|min }} {{ xs|max }} {{ words|max }} {{ xs|sum }} {{ [1.5, 2]|sum }} {{ xs|sum(start=10) }}",
    "{{ msgs|sum(attribute='x', start=0) }}", "{{ [{'v': 2}, {'v': 5}]|sum(attribute='v') }} {{ [{'v': 2}, {'v': 5}]|max(attribute='v') }} {{ empty|min is defined }}",
    "{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ msgs|rejectattr('tool_calls')|map(attribute='role')|join(',') }}",
    "{{ msgs|selectattr('tool_calls', 'defined')|list|length }} {{ msgs|selectattr('tool_calls', 'undefined')|list|length }} {{ xs|select('odd')|list }} {{ xs|reject('odd')|list }}",
    "{{ [0, 1, '', 'a', none]|select|list }} {{ xs|map('string')|join }} {{ words|map('upper')|list }} {{ msgs|map(attribute='missing', default='-')|list }}",
    "{{ n|selectattr('x')|list }} {{ n|map(attribute='x')|list }} {{ ['a', 'b']|map('replace', 'a', 'z')|list }}",
    "{{ '42'|int }} {{ '42.9'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ '0x1f'|int(base=16) }} {{ ' 12 '|int }} {{ '1_000'|int }}",
    "{{ '1.5'|float }} {{ 'x'|float }} {{ 3|float }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.1|round(method='ceil') }} {{ 7|round }}",
    "{{ -3|abs }} {{ (-3)|abs }} {{ -2.5|abs }} {{ 1|string ~ 2 }} {{ [1]|string }} {{ none|string }} {{ 'a<b>&\"c\\''|e }} {{ 'x'|safe }}",
    "{{ 'one\\ntwo\\n\\nthree'|indent }} | {{ 'one\\ntwo'|indent(2, first=true) }} | {{ 'a\\n\\nb'|indent('>', blank=true) }}",
    "{{ 'hello'|center(11) }}|{{ 'a b  c'|wordcount }}|{{ ('x' * 30)|truncate(10) }}|{{ 'hello world foo'|truncate(9, killwords=true) }}|{{ 'hello world foo'|truncate(12, leeway=0) }}",
    "{{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 'x')|list }} {{ '%s-%s'|format(1, 2) }} {{ '%(a)s'|format(a='A') }}",
    "{{ xs|tojson }} {{ d|tojson }} {{ 'é<>&\\''|tojson }} {{ {'u': 'é'}|tojson(ensure_ascii=true) }} {{ [1.0, 1e20, none, true]|tojson }}",
    "{{ d|tojson(indent=2) }}|{{ [[]]|tojson(indent=0) }}|{{ {}|tojson(indent='\\t') }}|{{ d|tojson(sort_keys=true) }}|{{ d|tojson(separators=(',', ':')) }}",
    "{{ msgs|tojson(indent=4) }}", "{{ nope|tojson }}", "{{ (1, 2)|tojson }} {{ {1: 'a', 2.5: 'b', true: 'c', none: 'd'}|tojson }}",
    "{{ d|attr('items') is defined }} {{ d|attr('b') is defined }}", "{{ xs|join(attribute='x') }}",
    # string methods
    "{{ s.upper() }} {{ s.title() }} {{ 'hello world'.capitalize() }} {{ '  a  '.strip() }}|{{ 'xxax'.lstrip('x') }}|{{ 'axx'.rstrip('x') }}",
    "{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a b c'.rsplit(' ', 1) }} {{ 'a\\nb\\r\\nc'.splitlines() }}",
    "{{ s.startswith('hé') }} {{ s.endswith(('x', 'rld')) }} {{ s.find('w') }} {{ s.rfind('l') }} {{ s.count('l') }} {{ '-'.join(['a', 'b']) }} {{ s.replace('l', 'L', 1) }}",
    "{{ '12'.isdigit() }} {{ 'ab'.isalpha() }} {{ ' '.isspace() }} {{ 'ab'.islower() }} {{ 'AB'.isupper() }} {{ 'a1'.isalnum() }}",
    "{{ s[0] }} {{ s[-1] }} {{ s[1:4] }} {{ s[::-1] }} {{ s[::2] }} {{ s[100] is defined }} {{ xs[1:] }} {{ xs[:-1] }} {{ xs[::-1] }} {{ xs[-1] }}",
    "{{ xs[5] is defined }} {{ xs[1:100] }} {{ xs[-100:1] }} {{ xs[::0] }}",
    "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'x') }} {{ d.keys()|list }} {{ d.values()|list }} {{ d['items'] }} {{ d.items()|list }}",
    "{{ xs.index(2) }} {{ xs.count(3) }} {{ d.b }} {{ d['b'] }} {{ msgs[1].content }} {{ msgs[1]['role'] }} {{ msgs.0.role }}",
    # undefined values
    "[{{ nope }}] [{{ d.zz }}] [{{ n.x }}] [{{ xs[9] }}]", "{{ nope.attr }}", "{{ nope['k'] }}", "{{ d.zz.yy }}",
    "{{ nope() }}", "{{ d.zz() }}", "{% for x in nope %}x{% else %}none{% endfor %}", "{{ nope|upper }}",
    # sandbox
    "{{ xs.append(4) }}", "{{ d.update({}) }}", "{{ d.pop('a') }}", "[{{ xs.append }}]", "{{ s.__class__ }}", "{{ range(100001)|length }}",
    "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }}",
    # loops
    "{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
    "{% for x in xs %}{{ loop.previtem|default('-') }}{{ loop.nextitem|default('-') }}{{ loop.cycle('a', 'b') }}{{ loop.changed(x > 1) }} {% endfor %}",
    "{% for x in xs if x > 1 %}{{ x }}:{{ loop.index }}/{{ loop.length }}{{ loop.last }} {% endfor %}", "{% for x in [] %}x{% else %}empty{% endfor %}",
    "{% for x in xs if x > 5 %}x{% else %}none passed{% endfor %}", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
    "{% for k, v in d|dictsort %}{{ k }}={{ v }};{% endfor %}", "{% for a, b in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %}",
    "{% for a, b in [(1, 2, 3)] %}{% endfor %}", "{% for c in 'héllo' %}{{ c }}|{% endfor %}", "{% for k in d %}{{ k }}{% endfor %}",
    "{% for x in xs %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{% for x in xs %}{% for y in xs %}{% if y == x %}{% break %}{% endif %}{{ loop.depth }}{{ y }}{% endfor %}|{% endfor %}",
    "{% for row in xs %}{% for col in xs %}{{ loop.index }}{% endfor %}{{ loop.index }};{% endfor %}",
    "{% for node in tree recursive %}{{ node.name }}({{ loop.depth }}){% if node.children %}[{{ loop(node.children) }}]{% endif %}{% endfor %}",
    "{% for m in msgs[::-1] %}{{ m.role[0] }}{% endfor %} {% for m in msgs|reverse %}{{ loop.index0 }}{% endfor %}",
    "{% for x in 1 %}{% endfor %}", "{% for x in xs %}{{ loop() }}{% endfor %}",
    # assignment and scoping
    "{% set a = 1 %}{% set b, c = 2, 3 %}{{ a }}{{ b }}{{ c }}{% set t = 1, 2 %}{{ t }}",
    "{% set c = 0 %}{% for x in xs %}{% set c = c + x %}{{ c }}{% endfor %}|{{ c }}",
    "{% for x in xs %}{% if loop.first %}{% set y = 'set' %}{% endif %}[{{ y }}]{% endfor %}[{{ y }}]",
    "{% if true %}{% set z = 'leaks' %}{% endif %}{{ z }}", "{% set ns = namespace(c=0, items=[]) %}{% for x in xs %}{% set ns.c = ns.c + x %}{% endfor %}{{ ns.c }}",
    "{% set ns = namespace() %}{% set ns.a = 1 %}{% set ns.a = ns.a + 1 %}{{ ns.a }} {{ ns.b is defined }}",
    "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}", "{% set d2 = {'a': 1} %}{% set d2.a = 2 %}",
    "{% set messages = msgs[1:] %}{{ messages|length }} {{ msgs|length }}", "{% set x %}block {{ 1 + 1 }}{% endset %}[{{ x }}]",
    "{% set x | upper %}shout{% endset %}{{ x }}", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]",
    "{% set d3 = {1: 'one', 2: 'two', 'k': 3} %}{{ d3[1] }} {{ d3[2.0] }} {{ d3[true] }} {{ d3.k }} {{ d3 }} {{ 1 in d3 }}",
    "{% set d4 = {'a': 1, 'a': 2} %}{{ d4 }}", "{% set r = dict(a=1, b=2) %}{{ r }} {{ dict([('x', 1)]) }}",
    # macros, call blocks, filter blocks
    "{% macro m(a, b=2) %}{{ a }}-{{ b }}{% endmacro %}{{ m(1) }} {{ m(1, 3) }} {{ m(b=4, a=5) }} [{{ m() }}]",
    "{% macro v() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ v(1, 2, k=3) }}", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}",
    "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(z=1) }}", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, a=2) }}",
    "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}",
    "{% macro outer() %}[{{ caller() }}]{% endmacro %}{% call outer() %}inside{% endcall %}",
    "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each(xs) %}<{{ x }}>{% endcall %}",
    "{% filter upper %}quiet {{ 'words' }}{% endfilter %}", "{% filter replace('a', 'o')|upper %}banana{% endfilter %}",
    "{% macro m() %}{{ q }}{% endmacro %}{% set q = 'late' %}{{ m() }}", "{% macro m(x) %}{{ x }}{% endmacro %}{{ m|string|length > 0 }}",
    "{% macro m() %}{% set inner = 1 %}{% endmacro %}{{ m() }}[{{ inner }}]", "{% set j = joiner('+') %}{% for x in xs %}{{ j() }}{{ x }}{% endfor %}",
    "{% print 'printed', 1 %}",
    # Markup
    "{{ '<b>'|safe + '<i>' }} {{ '<i>' + '<b>'|safe }} {{ ('<a>'|safe) * 2 }} {{ '<p>%s</p>'|safe % '<x>' }} {{ ('<b>'|safe).upper() }}",
    "{{ ('a<b'|safe).replace('<', '>') }} {{ '<'|e|e }} {{ '<'|e|forceescape }} {{ ('<b>'|safe)|string + '<' }} {{ '<x>'|safe ~ '<y>' }}",
    "{{ ('x'|safe).join(['<', '>']) }} {{ ('a b'|safe).split() }} {{ ('<t>'|safe)|trim + '&' }} {{ ['<'|safe] }}",
    # raise_exception, strftime_now
    "{{ raise_exception('custom failure: ' ~ 42) }}", "before{% if xs|length > 2 %}{{ raise_exception('too many') }}{% endif %}after",
    "{{ strftime_now('%Y-%m-%d %H:%M:%S') }} {{ strftime_now('%d %b %Y') }} {{ strftime_now('%A %B %j %f') }} {{ strftime_now('%%') }}",
    # generation blocks
    "a{% generation %}gen{% endgeneration %}b{% for x in xs %}{% generation %}{{ x }}{% endgeneration %}{% endfor %}",
    "{% generation %}{% set inner = 1 %}{% endgeneration %}[{{ inner }}]", "{% generation %}é{% endgeneration %}",
]


def render_engine_cases(env):
    out = []
    for src in ENGINE_CASES:
        case = {"template": src}
        try:
            template = env.from_string(src)
        except jinja2.exceptions.TemplateSyntaxError as e:
            case["error"] = f"TemplateSyntaxError: {e}"
            out.append(case)
            continue
        case.update(render_case(env, template, {}, None, None, False, ENGINE_CONTEXT, engine=True))
        out.append(case)
    return out


def render_case(env, template, tokens, messages, tools, agp, kwargs, engine=False):
    context = dict(kwargs) if engine else {"messages": messages, "tools": tools, "documents": None,
                                           "add_generation_prompt": agp, **tokens, **kwargs}
    blocks, spans = [], []
    env.activate_tracker(blocks, spans)
    try:
        for block in template.generate(**context):
            blocks.append(block)
    except jinja2.exceptions.TemplateError as e:
        if type(e) is jinja2.exceptions.TemplateError:  # raise_exception, not a Jinja failure
            return {"raise_exception": str(e)}
        return {"error": f"{type(e).__name__}: {e}", "error_type": type(e).__name__}
    except Exception as e:  # TypeError etc.: the template cannot render this input
        return {"error": f"{type(e).__name__}: {e}", "error_type": type(e).__name__}
    finally:
        env.activate_tracker(None, None)
    text = "".join(blocks)
    # Spans in bytes of the UTF-8 text (the C++ side works in bytes).
    byte_spans = [[len(text[:b].encode()), len(text[:e].encode())] for b, e in spans]
    return {"output": text, "generation_spans": byte_spans}


def verify_with_transformers(names):
    """Re-renders the committed goldens with transformers; returns the number of differences."""
    import transformers
    import transformers.utils.chat_template_utils as ctu
    from transformers.utils.chat_template_utils import render_jinja_template

    class FixedDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return FIXED_NOW

    if hasattr(ctu, "datetime"):  # strftime_now calls datetime.now() from this module
        ctu.datetime = FixedDatetime
    convs = json.load(open(os.path.join(TEMPLATES, "goldens", "conversations.json"), encoding="utf-8"))
    bad = checked = 0
    for name in names:
        source, tokens = load_template(name)
        golden = json.load(open(os.path.join(TEMPLATES, "goldens", name + ".json"), encoding="utf-8"))
        for c in golden["cases"]:
            conv = convs[c["conversation"]]
            label = f"{name} / {conv['name']}, add_generation_prompt={c['add_generation_prompt']}"
            try:
                rendered, indices = render_jinja_template(
                    conversations=[conv["messages"]], tools=conv["tools"], documents=None,
                    chat_template=source, return_assistant_tokens_mask=True,
                    add_generation_prompt=c["add_generation_prompt"], **tokens, **conv["kwargs"])
            except Exception as e:  # noqa: BLE001 - any failure is compared with the golden's
                got = {"raise_exception": str(e)} if type(e).__name__ == "TemplateError" else {"error": str(e)}
            else:
                text = rendered[0]
                spans = [[len(text[:b].encode()), len(text[:e].encode())] for b, e in indices[0]]
                got = {"output": text, "generation_spans": spans}
            checked += 1
            want = {k: c[k] for k in ("output", "generation_spans", "raise_exception") if k in c}
            if "error" in c:
                ok = "error" in got
            else:
                ok = all(got.get(k) == v for k, v in want.items())
            if not ok:
                bad += 1
                print(f"  DIFFERS: {label}\n    golden: {json.dumps(want)[:300]}\n    transformers: {json.dumps(got)[:300]}")
    print(f"transformers {transformers.__version__}: {checked} cases re-rendered, {bad} difference(s)")
    return bad


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--verify", action="store_true",
                    help="re-render the committed goldens with transformers (writes nothing)")
    ap.add_argument("names", nargs="*", help="template directories (default: all)")
    args = ap.parse_args()
    names = args.names or sorted(
        os.path.join(group, d) if group else d
        for group in ("", "extended") for d in os.listdir(os.path.join(TEMPLATES, group))
        if os.path.isfile(os.path.join(TEMPLATES, group, d, "tokenizer_config.json")))
    if args.verify:
        return 1 if verify_with_transformers(names) else 0
    env = make_env()
    convs = [{"name": n, "messages": m, "tools": t, "kwargs": k} for n, m, t, k in conversations()]
    os.makedirs(os.path.join(TEMPLATES, "goldens", "extended"), exist_ok=True)
    write_json(os.path.join(TEMPLATES, "goldens", "conversations.json"), convs)
    engine = render_engine_cases(env)
    write_json(os.path.join(TEMPLATES, "goldens", "engine.json"),
               {"jinja2": jinja2.__version__, "context": ENGINE_CONTEXT, "cases": engine})
    print(f"{'engine':20s} {len(engine):3d} cases: {sum('output' in c for c in engine)} rendered")
    for name in names:
        source, tokens = load_template(name)
        template = env.from_string(source)
        cases = []
        for i, c in enumerate(convs):
            for agp in (False, True):
                case = {"conversation": i, "add_generation_prompt": agp}
                case.update(render_case(env, template, tokens, c["messages"], c["tools"], agp, c["kwargs"]))
                cases.append(case)
        out = {"template": name, "jinja2": jinja2.__version__, "python": sys.version.split()[0],
               "strftime_now": FIXED_NOW.isoformat(), "special_tokens": tokens, "cases": cases}
        path = os.path.join(TEMPLATES, "goldens", name + ".json")
        write_json(path, out)
        n_ok = sum("output" in c for c in cases)
        n_raise = sum("raise_exception" in c for c in cases)
        print(f"{name:20s} {len(cases):3d} cases: {n_ok} rendered, {n_raise} raise_exception, "
              f"{len(cases) - n_ok - n_raise} other errors -> {os.path.relpath(path, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
