"""Independent Python reference of `youzhi eval`'s prompts, written from the harnesses' own
rules (lm-evaluation-harness fewshot_context and _encode_pair, FinLoRA's prompt format, C-Eval's
template) and Python's own random.Random: the C++ tests compare against files this writes
(tools/make_eval_expected.py), and tools/make_eval_goldens.py scores its requests with
transformers. Standard library only.
"""
import csv
import json
import os
import random

FPB_PREFIX = ("Instruction: What is the sentiment of this news? Please choose an answer from "
              "{negative/neutral/positive}.\nInput: ")
FPB_SUFFIX = "\nAnswer: "
SENTIMENT = ["negative", "neutral", "positive"]
NWGI = ["strong negative", "moderately negative", "mildly negative", "neutral",
        "mildly positive", "moderately positive", "strong positive"]


def fpb_test(data):
    return [json.loads(l) for l in open(f"{data}/fin_eval/finlora/fpb_test.jsonl", encoding="utf-8")]


def fpb_train(data):
    """Sentences_50Agree (latin-1, sentence@label) minus every FinLoRA test sentence."""
    test = {r["context"][len(FPB_PREFIX):-len(FPB_SUFFIX)] for r in fpb_test(data)}
    rows = []
    raw = open(f"{data}/fin_eval/financial_phrasebank_v1.0/Sentences_50Agree.txt", "rb").read()
    for line in raw.decode("latin-1").split("\r\n"):
        if not line:
            continue
        sentence, label = line.rsplit("@", 1)
        if sentence not in test:
            rows.append({"context": FPB_PREFIX + sentence + FPB_SUFFIX, "target": label})
    return rows


def finlora_rows(path):
    return [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]


def ceval_doc(question, options, answer, subject):
    """lm-eval tasks/ceval/_default_ceval_yaml doc_to_text and description."""
    text = question.strip() + "\n" + "".join(f"{k}. {v}\n" for k, v in options) + "答案："
    return {"text": text, "choices": [k for k, _ in options], "gold": [k for k, _ in options].index(answer.strip()),
            "description": f"以下是中国关于{subject}的单项选择题，请选出其中的正确答案。\n\n"}


def fineval_docs(data, split, subject_file, subject):
    suffix = {"val": "_val.csv", "dev": "_dev.csv"}[split]
    with open(f"{data}/fin_eval/fineval_zh/{split}/{subject_file}{suffix}", encoding="utf-8-sig", newline="") as f:
        return [ceval_doc(r["question"], [(k, r[k]) for k in "ABCD"], r["answer"], subject)
                for r in csv.DictReader(f)]


def fewshot_context(description, shots, text, target_delimiter=" ", fewshot_delimiter="\n\n"):
    """fewshot_context without a chat template: description, then per shot
    q + target_delimiter + a + fewshot_delimiter, then the query."""
    return description + "".join(q + target_delimiter + a + fewshot_delimiter for q, a in shots) + text


def fpb_prompts(data, k, seed, n):
    """FPB documents 0..n-1 with k shots each from one Random(seed), as lm-eval's sampler."""
    test, pool = fpb_test(data), fpb_train(data)
    rnd = random.Random(seed)
    out = []
    for doc in test[:n]:
        shots = rnd.sample(pool, k) if k else []
        out.append({"context": fewshot_context("", [(s["context"], s["target"]) for s in shots],
                                               doc["context"], target_delimiter=""),
                    "choices": SENTIMENT, "gold": SENTIMENT.index(doc["target"]),
                    "target_delimiter": ""})
    return out


def nwgi_prompts(data, n):
    rows = finlora_rows(f"{data}/fin_eval/finlora/nwgi_test.jsonl")[:n]
    return [{"context": r["context"], "choices": NWGI, "gold": NWGI.index(r["target"]),
             "target_delimiter": ""} for r in rows]


def xbrl_prompts(data, k, seed, n):
    test = finlora_rows(f"{data}/fin_eval/finlora/xbrl_term_test.jsonl")
    pool = finlora_rows(f"{data}/fin_eval/finlora/xbrl_term_train.jsonl")
    rnd = random.Random(seed)
    return [fewshot_context("", [(s["context"], s["target"]) for s in rnd.sample(pool, k)], d["context"])
            for d in test[:n]]


def fineval_prompt(data, k, subject_file="accounting", subject="会计", index=0):
    """first_n sampler: the first k dev questions of the subject."""
    dev = fineval_docs(data, "dev", subject_file, subject)
    doc = fineval_docs(data, "val", subject_file, subject)[index]
    shots = [(s["text"], s["choices"][s["gold"]]) for s in dev[:k]]
    return fewshot_context(doc["description"], shots, doc["text"])


def encode_pair(tokenizer, context, continuation):
    """lm-eval api/model.py _encode_pair for causal models (tokenizer: HF tokenizers/transformers)."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tokenizer.encode(context + continuation)
    ctx = tokenizer.encode(context)
    return ctx, whole[len(ctx):]


def default_data_dir():
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")
