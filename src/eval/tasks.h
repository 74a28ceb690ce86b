// The task registry: every built-in benchmark (name, suite, the local files it reads and where
// they come from), the suites, and user tasks from a JSONL file. Loading checks every row and
// names FILE:LINE (or FILE and the record) for a malformed one.
#pragma once

#include <string>
#include <vector>

#include "eval/task.h"
#include "util/fs.h"

namespace yz {

struct TaskInfo {
  std::string name;
  std::string suite;  // "fin" or "general"
  std::string what;   // one line for --help and error messages
};

const std::vector<TaskInfo>& task_catalog();

// Names from "--tasks a,b" and/or "--suite fin|general|all", in catalog order, without repeats.
// Unknown names are an error listing the known tasks and suites.
std::vector<std::string> resolve_task_names(const std::vector<std::string>& tasks,
                                            const std::string& suite);

// `data_dir` is the shared data folder (holding fin_eval/, eval_general/, corpus/). The few-shot
// pool is read only `with_shots` (a missing train/dev file never blocks a zero-shot run).
Task load_task(const std::string& name, const fs::path& data_dir, bool with_shots);

// A user task: one JSON object per line with "context" and either "choices" (strings) plus "gold"
// (an index or one of the choices), or "target" (a reference text). Named after the file stem.
Task load_task_file(const fs::path& path);

// The Financial PhraseBank rows (Sentences_50Agree.txt, latin-1) whose sentence occurs nowhere in
// FinLoRA's FPB test split, in FinLoRA's prompt format (context, target): a train split that
// cannot leak test rows. Sets *excluded to the number of 50Agree lines dropped.
std::vector<Doc> fpb_train_docs(const fs::path& data_dir, int64_t* excluded = nullptr);

// The shared data folder: `given` (a --data-dir option) when not empty, else $YZ_DATA_DIR, else
// <repo>/../shared/data next to the executable's build tree, else ../shared/data from the
// working directory.
fs::path data_dir_or_default(const std::string& given = "");

}  // namespace yz
