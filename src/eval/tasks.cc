// Built-in tasks (see tasks.h). Prompt formats: FinLoRA's
// (data/process_sentiment_train.py) for the sentiment sets and XBRL terms, FinBen's flare-cfa
// query for CFA, and lm-evaluation-harness's C-Eval template (tasks/ceval/_default_ceval_yaml)
// for the Chinese multiple-choice sets. README.md "Evaluation" says which split each scores.
#include "eval/tasks.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <unordered_set>

#include "eval/formats.h"
#include "eval/loaders.h"
#include "util/error.h"
#include "util/text_file.h"

namespace yz {

namespace {

const std::vector<std::string> kSentiment = {"negative", "neutral", "positive"};
const std::vector<std::string> kNwgi = {
    "strong negative", "moderately negative", "mildly negative", "neutral",
    "mildly positive", "moderately positive", "strong positive"};
// FinLoRA's FPB instruction (process_sentiment_train.py, process_fpb).
constexpr const char* kFpbPrefix =
    "Instruction: What is the sentiment of this news? Please choose an answer from "
    "{negative/neutral/positive}.\nInput: ";
constexpr const char* kFpbSuffix = "\nAnswer: ";
constexpr int64_t kPplChars = 400000;  // mla_conversion.md §13: the first 400,000 characters

// FinEval's 34 subjects (subject_mapping.json of SUFE-AIFLM-Lab/FinEval @ b5773e6).
const std::vector<std::pair<std::string, std::string>> kFinEvalSubjects = {
    {"accounting", "会计"},
    {"advanced_financial_accounting", "高级财务会计"},
    {"auditing", "审计学"},
    {"banking_practitioner_qualification_certificate", "银行从业资格证"},
    {"central_banking", "中央银行学"},
    {"certified_management_accountant", "管理会计师"},
    {"certified_practising_accountant", "注册会计师"},
    {"china_actuary", "中国精算师"},
    {"commercial_bank_finance", "商业银行金融学"},
    {"corporate_finance", "公司金融学"},
    {"corporate_strategy_and_risk_management", "公司战略与风险管理"},
    {"cost_accounting", "成本会计学"},
    {"econometrics", "计量经济学"},
    {"economic_law", "经济法"},
    {"finance", "金融学"},
    {"financial_engineering", "金融工程学"},
    {"financial_management", "财务管理学"},
    {"financial_markets", "金融市场学"},
    {"fund_qualification_certificate", "基金从业资格证"},
    {"futures_practitioner_qualification_certificate", "期货从业资格证"},
    {"insurance", "保险学"},
    {"intermediate_financial_accounting", "中级财务会计"},
    {"international_economics", "国际经济学"},
    {"international_finance", "国际金融学"},
    {"investments", "投资学"},
    {"macroeconomics", "宏观经济学"},
    {"management_accounting", "管理会计学"},
    {"microeconomics", "微观经济学"},
    {"monetary_finance", "货币金融学"},
    {"political_economy", "政治经济学"},
    {"public_finance", "财政学"},
    {"securities_practitioner_qualification_certificate", "证券从业资格证"},
    {"statistics", "统计学"},
    {"tax_law", "税法"},
};
// FinanceIQ's 10 exams (file names as ../shared/data/SOURCES.md renamed them).
const std::vector<std::pair<std::string, std::string>> kFinanceIqExams = {
    {"CPA", "注册会计师（CPA）"},
    {"actuary_financial_math", "精算师-金融数学"},
    {"banking_qualification", "银行从业资格"},
    {"economist", "经济师"},
    {"financial_planner", "理财规划师"},
    {"fund_qualification", "基金从业资格"},
    {"futures_qualification", "期货从业资格"},
    {"insurance_CICE", "保险从业资格CICE"},
    {"securities_qualification", "证券从业资格"},
    {"tax_advisor", "税务师"},
};

fs::path need(const fs::path& data_dir, const std::string& rel, const std::string& task,
              const std::string& provider) {
  fs::path p = data_dir / rel;
  YZ_CHECK(fs::is_regular_file(p), p.string(), ": missing; task ", task, " reads it from ",
           provider,
           " (../shared/data/SOURCES.md lists every file; --data-dir DIR reads "
           "another copy)");
  return p;
}

std::string first_chars(const std::string& text, int64_t n) {
  size_t i = 0;
  for (int64_t c = 0; c < n && i < text.size(); ++c) {
    ++i;
    while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) ++i;
  }
  return text.substr(0, i);
}

std::string without_cr(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i)
    if (!(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) out.push_back(text[i]);
  return out;
}

// Where a C-Eval-style set keeps one CSV per subject: scored rows and the dev (shot) rows.
struct CevalFiles {
  const char* test_dir;
  const char* test_suffix;
  const char* dev_dir;
  const char* dev_suffix;
  const char* question;  // column names
  const char* answer;
  const char* provider;
};
const CevalFiles kFinEvalFiles = {"fin_eval/fineval_zh/val/",
                                  "_val.csv",
                                  "fin_eval/fineval_zh/dev/",
                                  "_dev.csv",
                                  "question",
                                  "answer",
                                  "FinEval code/data (github SUFE-AIFLM-Lab/FinEval)"};
const CevalFiles kFinanceIqFiles = {"fin_eval/financeiq_zh/test/",
                                    ".csv",
                                    "fin_eval/financeiq_zh/dev/",
                                    ".csv",
                                    "Question",
                                    "Answer",
                                    "FinanceIQ data (github Duxiaoman-DI/XuanYuan)"};

// Every subject's rows in table order; the dev rows become the first_n shot pool.
void load_ceval_subjects(Task* t, const fs::path& d,
                         const std::vector<std::pair<std::string, std::string>>& subjects,
                         const CevalFiles& f, bool with_shots) {
  for (const auto& [file, subject] : subjects) {
    auto docs = ceval_csv_docs(need(d, f.test_dir + file + f.test_suffix, t->name, f.provider),
                               subject, f.question, f.answer);
    t->docs.insert(t->docs.end(), docs.begin(), docs.end());
    if (!with_shots) continue;
    auto dev = ceval_csv_docs(need(d, f.dev_dir + file + f.dev_suffix, t->name, f.provider),
                              subject, f.question, f.answer);
    t->shots.insert(t->shots.end(), dev.begin(), dev.end());
  }
  t->sampler = ShotSampler::kFirstN;
  t->case_sensitive = true;  // option letters
}

Task sentiment_task(const std::string& name, const fs::path& file,
                    const std::vector<std::string>& labels, const std::string& split,
                    const std::map<std::string, std::string>& remap = {}) {
  Task t;
  t.name = name;
  t.classification = true;
  t.docs = finlora_choice_docs(file, labels, remap);
  t.split = split;
  // FinLoRA contexts end with "Answer: ": the label follows directly (the trailing space moves
  // into the continuation through _encode_pair, so " neutral" is what gets scored).
  t.target_delimiter = "";
  return t;
}

}  // namespace

const std::vector<TaskInfo>& task_catalog() {
  static const std::vector<TaskInfo> catalog = {
      {"fpb", "fin", "Financial PhraseBank sentiment, FinLoRA test split (3 labels)"},
      {"fiqa_sa", "fin", "FiQA-SA sentiment, FinLoRA test split (3 labels)"},
      {"tfns", "fin", "Twitter financial news sentiment, FinLoRA test split (3 labels)"},
      {"nwgi", "fin", "News with GPT instructions sentiment, FinLoRA test split (7 labels)"},
      {"cfa", "fin", "FinBen flare-cfa, CFA-style 3-option questions"},
      {"fineval", "fin", "FinEval financial knowledge, 4-option Chinese MCQ (C-Eval prompt)"},
      {"cflue", "fin", "CFLUE knowledge, single-answer Chinese MCQ (C-Eval prompt)"},
      {"financeiq", "fin", "FinanceIQ, 4-option Chinese exam MCQ (C-Eval prompt)"},
      {"xbrl_term", "fin", "FinLoRA XBRL term definitions (reference text)"},
      {"ppl_sec", "fin", "perplexity on held-out SEC filings (first 400k characters)"},
      {"ppl_wikitext", "general", "perplexity on WikiText-2 test (first 400k characters)"},
  };
  return catalog;
}

std::vector<std::string> resolve_task_names(const std::vector<std::string>& tasks,
                                            const std::string& suite) {
  std::set<std::string> wanted;
  auto known_list = [] {
    std::vector<std::string> names;
    for (const auto& t : task_catalog()) names.push_back(t.name);
    return join(names, ", ") + "; suites: fin, general, all";
  };
  for (const auto& name : tasks) {
    const bool known = std::any_of(task_catalog().begin(), task_catalog().end(),
                                   [&](const TaskInfo& t) { return t.name == name; });
    YZ_CHECK(known, "unknown task '", name, "'; known tasks: ", known_list());
    wanted.insert(name);
  }
  if (!suite.empty()) {
    YZ_CHECK(suite == "fin" || suite == "general" || suite == "all", "unknown suite '", suite,
             "'; known tasks: ", known_list());
    for (const auto& t : task_catalog())
      if (suite == "all" || t.suite == suite) wanted.insert(t.name);
  }
  std::vector<std::string> out;
  for (const auto& t : task_catalog())
    if (wanted.count(t.name)) out.push_back(t.name);
  return out;
}

std::vector<Doc> fpb_train_docs(const fs::path& data_dir, int64_t* excluded) {
  const fs::path test_path =
      need(data_dir, "fin_eval/finlora/fpb_test.jsonl", "fpb",
           "FinLoRA data/test/fpb_test.jsonl (github Open-Finance-Lab/FinLoRA)");
  const fs::path all_path =
      need(data_dir, "fin_eval/financial_phrasebank_v1.0/Sentences_50Agree.txt", "fpb",
           "Financial PhraseBank v1.0 (Malo et al. 2014)");
  std::unordered_set<std::string> test;
  for (const JsonlRow& row : read_jsonl(test_path)) {
    const std::string c = jsonl_string(test_path, row, "context");
    const std::string prefix = kFpbPrefix, suffix = kFpbSuffix;
    YZ_CHECK(c.rfind(prefix, 0) == 0 && c.size() >= prefix.size() + suffix.size() &&
                 c.compare(c.size() - suffix.size(), suffix.size(), suffix) == 0,
             test_path.string(), ":", row.line, ": not in FinLoRA's FPB prompt format");
    test.insert(c.substr(prefix.size(), c.size() - prefix.size() - suffix.size()));
  }
  const std::string bytes = read_text_input(all_path);
  std::vector<Doc> docs;
  int64_t dropped = 0, line = 0;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t end = bytes.find('\n', pos);
    if (end == std::string::npos) end = bytes.size();
    std::string raw = bytes.substr(pos, end - pos);
    pos = end + 1;
    ++line;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    if (raw.empty()) continue;
    const size_t at = raw.rfind('@');
    YZ_CHECK(at != std::string::npos, all_path.string(), ":", line, ": no '@label' at the end");
    const std::string sentence = latin1_to_utf8(raw.substr(0, at));
    const std::string label = raw.substr(at + 1);
    YZ_CHECK(index_of(kSentiment, label) >= 0, all_path.string(), ":", line, ": label '", label,
             "' is not one of ", join(kSentiment, ", "));
    if (test.count(sentence)) {
      ++dropped;
      continue;
    }
    Doc d;
    d.text = kFpbPrefix + sentence + kFpbSuffix;
    d.choices = kSentiment;
    d.gold = index_of(kSentiment, label);
    docs.push_back(std::move(d));
  }
  if (excluded) *excluded = dropped;
  return docs;
}

Task load_task(const std::string& name, const fs::path& d, bool with_shots) {
  const std::string finlora = "FinLoRA data/test (github Open-Finance-Lab/FinLoRA)";
  Task t;
  t.name = name;
  if (name == "fpb") {
    t = sentiment_task(name, need(d, "fin_eval/finlora/fpb_test.jsonl", name, finlora), kSentiment,
                       "FinLoRA test split of Sentences_50Agree (train_test_split 0.25, seed 42)");
    t.sampler = ShotSampler::kRandom;
    if (with_shots) t.shots = fpb_train_docs(d);
  } else if (name == "fiqa_sa") {
    t = sentiment_task(name, need(d, "fin_eval/finlora/fiqa_test.jsonl", name, finlora), kSentiment,
                       "FinLoRA test split (flare-fiqasa test)");
  } else if (name == "tfns") {
    // FinLoRA mapped TFNS's label ids {0 Bearish, 1 Bullish, 2 Neutral} with {0 negative,
    // 1 neutral, 2 positive} (process_sentiment_train.py): its "neutral" rows are bullish and
    // its "positive" rows neutral. Scored with the labels swapped back.
    t = sentiment_task(name, need(d, "fin_eval/finlora/tfns_test.jsonl", name, finlora), kSentiment,
                       "FinLoRA test split (TFNS validation), neutral/positive swapped back",
                       {{"neutral", "positive"}, {"positive", "neutral"}});
  } else if (name == "nwgi") {
    t = sentiment_task(name, need(d, "fin_eval/finlora/nwgi_test.jsonl", name, finlora), kNwgi,
                       "FinLoRA test split (NWGI test, 7 labels)");
  } else if (name == "cfa") {
    t.docs = cfa_docs(need(d, "fin_eval/cfa/flare_cfa_1032.json", name,
                           "FinBen flare-cfa (HF TheFinAI/flare-cfa)"));
    t.split = "flare-cfa (1,032 questions, all scored)";
    t.case_sensitive = true;  // FinBen's CFA(Classification) sets LOWER_CASE = False
  } else if (name == "fineval") {
    load_ceval_subjects(&t, d, kFinEvalSubjects, kFinEvalFiles, with_shots);
    t.split = "local val/ (3,340 rows = FinEval's published test split; test_20pct/ is a subset)";
  } else if (name == "financeiq") {
    load_ceval_subjects(&t, d, kFinanceIqExams, kFinanceIqFiles, with_shots);
    t.split = "test (7,123 rows; dev holds the 5 shots per exam)";
  } else if (name == "cflue") {
    t.docs = cflue_docs(need(d, "fin_eval/cflue_zh/knowledge.json", name,
                             "CFLUE data/knowledge.json (github aliyun/cflue)"));
    t.split = "knowledge.json single-answer questions (2,345 of 3,864; the released dev set)";
    t.case_sensitive = true;
  } else if (name == "xbrl_term") {
    t.docs = finlora_text_docs(need(d, "fin_eval/finlora/xbrl_term_test.jsonl", name, finlora));
    if (with_shots)
      t.shots = finlora_text_docs(need(d, "fin_eval/finlora/xbrl_term_train.jsonl", name,
                                       "FinLoRA data/train (github Open-Finance-Lab/FinLoRA)"));
    t.kind = TaskKind::kText;
    t.split = "FinLoRA test split (651 terms; 5,856 train terms for shots)";
    t.sampler = ShotSampler::kRandom;
    t.max_new_tokens = 50;  // FinLoRA test_dataset.py max_new_token_dict["xbrl_term"]
  } else if (name == "ppl_sec" || name == "ppl_wikitext") {
    const bool sec = name == "ppl_sec";
    const fs::path p =
        sec ? need(d, "corpus/fin_heldout_sec.txt.xz", name, "the held-out SEC filings of corpus/")
            : need(d, "eval_general/wikitext2_raw_test.txt", name,
                   "WikiText-2 raw test (HF Salesforce/wikitext)");
    // 4 bytes per character at most; the wikitext copy joins rows with CRLF (SOURCES.md).
    t.text = first_chars(without_cr(read_text_input(p, 4 * kPplChars + 4)), kPplChars);
    t.kind = TaskKind::kPerplexity;
    t.split = sec ? "fin_heldout_sec.txt.xz, first 400,000 characters"
                  : "wikitext2_raw_test.txt (CRLF -> LF), first 400,000 characters";
  } else {
    resolve_task_names({name}, "");  // throws the list of known tasks
  }
  return t;
}

Task load_task_file(const fs::path& path) {
  YZ_CHECK(fs::is_regular_file(path), path.string(), ": no such task file");
  Task t;
  t.name = path.stem().string();
  t.split = path.string();
  bool first = true, same_choices = true;
  for (const JsonlRow& row : read_jsonl(path)) {
    Doc d;
    d.text = jsonl_string(path, row, "context");
    const bool choice = row.value.contains("choices");
    YZ_CHECK(choice != row.value.contains("target"), path.string(), ":", row.line,
             ": give either 'choices' and 'gold', or 'target'");
    if (first) t.kind = choice ? TaskKind::kChoice : TaskKind::kText;
    YZ_CHECK((t.kind == TaskKind::kChoice) == choice, path.string(), ":", row.line,
             ": every row must have the same form as the first ('choices' or 'target')");
    if (choice) {
      const auto& c = row.value["choices"];
      YZ_CHECK(c.is_array() && !c.empty(), path.string(), ":", row.line,
               ": 'choices' must be a non-empty array of strings");
      for (const auto& x : c) {
        YZ_CHECK(x.is_string(), path.string(), ":", row.line, ": 'choices' must hold strings");
        d.choices.push_back(x.get<std::string>());
      }
      YZ_CHECK(row.value.contains("gold"), path.string(), ":", row.line, ": missing field 'gold'");
      const auto& g = row.value["gold"];
      if (g.is_number_integer())
        d.gold = g.get<int64_t>();
      else if (g.is_string())
        d.gold = index_of(d.choices, g.get<std::string>());
      YZ_CHECK(d.gold >= 0 && d.gold < static_cast<int64_t>(d.choices.size()), path.string(), ":",
               row.line, ": 'gold' must be an index into 'choices' or one of them");
      if (!t.docs.empty() && d.choices != t.docs.front().choices) same_choices = false;
    } else {
      d.target = jsonl_string(path, row, "target");
    }
    t.docs.push_back(std::move(d));
    first = false;
  }
  YZ_CHECK(!t.docs.empty(), path.string(), ": no rows");
  if (t.kind == TaskKind::kText) t.max_new_tokens = 50;
  t.classification = t.kind == TaskKind::kChoice && same_choices;
  return t;
}

fs::path data_dir_or_default(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("YZ_DATA_DIR")) return env;
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = '\0';
    // build/youzhi (or build/tests/x) -> the repository root is the first parent holding models/
    for (fs::path p = fs::path(exe).parent_path(); !p.empty() && p != p.root_path();
         p = p.parent_path())
      if (fs::is_directory(p / "models") && fs::is_directory(p / ".." / "shared" / "data"))
        return p / ".." / "shared" / "data";
  }
  return fs::current_path() / ".." / "shared" / "data";
}

}  // namespace yz
