// Recipe parsing, validation and the command line of each stage (see recipe.h).
#include "pipeline/recipe.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "util/error.h"

namespace yz::pipeline {

namespace {

// Fields each stage kind takes besides name, kind and args: (field, is a list of inputs,
// required).
struct Field {
  const char* name;
  bool list, required;
};
const std::vector<Field>& fields_of(StageKind k) {
  static const std::vector<Field> data = {};
  static const std::vector<Field> convert = {{"model", false, true}, {"calib", true, true}};
  static const std::vector<Field> distill = {{"teacher", false, true}, {"student", false, true},
                                             {"data", true, true}, {"eval_files", true, false}};
  static const std::vector<Field> sft = {{"model", false, true}, {"data", true, true},
                                         {"teacher", false, false}, {"eval_files", true, false}};
  static const std::vector<Field> eval = {};  // "models" is an object, parsed on its own
  switch (k) {
    case StageKind::kData: return data;
    case StageKind::kConvert: return convert;
    case StageKind::kDistill: return distill;
    case StageKind::kSft: return sft;
    case StageKind::kEval: return eval;
  }
  return data;
}

// Flags the pipeline sets itself: a recipe may not override them through "args".
const std::set<std::string> kReserved = {"out",   "json",    "overwrite", "resume",    "device",
                                         "data-dir", "model", "teacher", "student", "data",
                                         "calib", "eval-file", "compare", "show-prompt", "markdown"};

StageKind parse_kind(const Json& v, const std::string& at) {
  YZ_CHECK(v.is_string(), "recipe ", at, ": expected a string (data, convert, distill, sft, eval)");
  const std::string s = v.get<std::string>();
  for (StageKind k : {StageKind::kData, StageKind::kConvert, StageKind::kDistill, StageKind::kSft,
                      StageKind::kEval})
    if (s == stage_kind_name(k)) return k;
  YZ_THROW(ErrorKind::kInvalidInput, "recipe ", at, ": unknown stage kind '", s,
           "' (known: data, convert, distill, sft, eval)");
}

// Whether a stage of this kind leaves something a later stage can read.
bool has_output(StageKind k) { return k != StageKind::kEval; }

}  // namespace

const char* stage_kind_name(StageKind kind) {
  switch (kind) {
    case StageKind::kData: return "data";
    case StageKind::kConvert: return "convert";
    case StageKind::kDistill: return "distill";
    case StageKind::kSft: return "sft";
    case StageKind::kEval: return "eval";
  }
  return "?";
}

Recipe parse_recipe(const Json& j, const fs::path& path, const fs::path& default_data_dir) {
  Recipe r;
  r.path = path;
  // Absolute paths: stage.json keys and child commands do not depend on the working directory.
  const fs::path base = fs::absolute(path).parent_path();
  auto resolve = [&](const std::string& p) {
    return (fs::path(p).is_absolute() ? fs::path(p) : base / p).lexically_normal();
  };
  YZ_CHECK(j.is_object(), "recipe ", path.string(), ": expected a JSON object");
  auto str = [&](const Json& o, const char* key, const std::string& at, bool required) {
    if (!o.contains(key)) {
      YZ_CHECK(!required, "recipe ", at, ": missing field '", key, "'");
      return std::string();
    }
    YZ_CHECK(o[key].is_string(), "recipe ", at, "/", key, ": expected a string");
    return o[key].get<std::string>();
  };
  for (auto it = j.begin(); it != j.end(); ++it)
    YZ_CHECK(it.key() == "name" || it.key() == "model" || it.key() == "device" ||
                 it.key() == "data_dir" || it.key() == "stages",
             "recipe /", it.key(), ": unknown field (known: name, model, device, data_dir, stages)");
  r.name = str(j, "name", "", false);
  const std::string model = str(j, "model", "", true);
  r.model = resolve(model);
  r.device = j.contains("device") ? str(j, "device", "", false) : "cpu";
  const std::string dd = str(j, "data_dir", "", false);
  r.data_dir = dd.empty() ? fs::absolute(default_data_dir).lexically_normal() : resolve(dd);
  YZ_CHECK(j.contains("stages") && j["stages"].is_array() && !j["stages"].empty(),
           "recipe /stages: expected a non-empty list of stages");

  auto input = [&](const Json& v, const std::string& at, const std::set<std::string>& earlier) {
    YZ_CHECK(v.is_string() && !v.get<std::string>().empty(), "recipe ", at,
             ": expected a path, \"@model\" or \"@STAGE\"");
    const std::string s = v.get<std::string>();
    Input in;
    if (s[0] == '@') {
      in.ref = s.substr(1);
      YZ_CHECK(in.ref == "model" || earlier.count(in.ref), "recipe ", at, ": '", s,
               "' names no earlier stage with an output");
    } else if (s.rfind("$data/", 0) == 0) {
      in.path = (r.data_dir / s.substr(6)).lexically_normal();
    } else {
      in.path = resolve(s);
    }
    return in;
  };

  std::set<std::string> names, with_output;
  for (size_t i = 0; i < j["stages"].size(); ++i) {
    const std::string at = "/stages/" + std::to_string(i);
    const Json& s = j["stages"][i];
    YZ_CHECK(s.is_object(), "recipe ", at, ": expected an object");
    Stage st;
    st.pointer = at;
    st.name = str(s, "name", at, true);
    YZ_CHECK(!st.name.empty() && st.name != "model" &&
                 std::all_of(st.name.begin(), st.name.end(),
                             [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }),
             "recipe ", at, "/name: '", st.name, "' must be letters, digits, '_' or '-' (and not 'model')");
    YZ_CHECK(names.insert(st.name).second, "recipe ", at, "/name: '", st.name, "' is used twice");
    YZ_CHECK(s.contains("kind"), "recipe ", at, ": missing field 'kind'");
    st.kind = parse_kind(s["kind"], at + "/kind");
    std::set<std::string> known = {"name", "kind", "args"};
    for (const Field& f : fields_of(st.kind)) {
      known.insert(f.name);
      if (!s.contains(f.name)) {
        YZ_CHECK(!f.required, "recipe ", at, ": a ", stage_kind_name(st.kind), " stage needs '",
                 f.name, "'");
        continue;
      }
      const std::string fat = at + "/" + f.name;
      if (!f.list) {
        st.inputs.emplace_back(f.name, input(s[f.name], fat, with_output));
        continue;
      }
      YZ_CHECK(s[f.name].is_array() && !s[f.name].empty(), "recipe ", fat, ": expected a non-empty list");
      for (size_t k = 0; k < s[f.name].size(); ++k)
        st.inputs.emplace_back(f.name, input(s[f.name][k], fat + "/" + std::to_string(k), with_output));
    }
    if (st.kind == StageKind::kEval) {
      known.insert("models");
      YZ_CHECK(s.contains("models") && s["models"].is_object() && !s["models"].empty(), "recipe ",
               at, "/models: expected an object of row label -> model");
      for (auto it = s["models"].begin(); it != s["models"].end(); ++it)
        st.models.emplace_back(it.key(), input(it.value(), at + "/models/" + it.key(), with_output));
    }
    for (auto it = s.begin(); it != s.end(); ++it)
      YZ_CHECK(known.count(it.key()), "recipe ", at, "/", it.key(), ": unknown field of a ",
               stage_kind_name(st.kind), " stage");
    if (s.contains("args")) {
      YZ_CHECK(s["args"].is_object(), "recipe ", at, "/args: expected an object of flags");
      for (auto it = s["args"].begin(); it != s["args"].end(); ++it) {
        const std::string aat = at + "/args/" + it.key();
        YZ_CHECK(!kReserved.count(it.key()), "recipe ", aat,
                 ": set by the pipeline (paths and outputs go in the stage's own fields)");
        YZ_CHECK(it.key().rfind("-", 0) != 0, "recipe ", aat, ": write flags without dashes");
        const Json& v = it.value();
        bool ok = v.is_boolean() || v.is_number() || v.is_string();
        if (v.is_array())
          ok = std::all_of(v.begin(), v.end(), [](const Json& x) { return x.is_number() || x.is_string(); });
        YZ_CHECK(ok, "recipe ", aat, ": expected a boolean, number, string or list of them");
      }
      st.args = s["args"];
    }
    if (has_output(st.kind)) with_output.insert(st.name);
    r.stages.push_back(std::move(st));
  }
  return r;
}

Recipe load_recipe(const fs::path& path, const fs::path& default_data_dir) {
  YZ_CHECK(fs::is_regular_file(path), path.string(), ": no such recipe file");
  Json j = Json::parse(read_text_file(path), nullptr, /*allow_exceptions=*/false);
  YZ_CHECK(!j.is_discarded(), "recipe ", path.string(), ": not valid JSON");
  return parse_recipe(j, path, default_data_dir);
}

fs::path stage_output(const Stage& stage, const fs::path& stage_dir) {
  switch (stage.kind) {
    case StageKind::kData: return stage_dir / "fin_sft.jsonl";
    case StageKind::kEval: return stage_dir;
    default: return stage_dir / "model";
  }
}

fs::path resolve_input(const Recipe& recipe, const Input& in,
                       const std::vector<std::pair<std::string, fs::path>>& outputs) {
  if (in.ref.empty()) return in.path;
  if (in.ref == "model") return recipe.model;
  for (const auto& [name, p] : outputs)
    if (name == in.ref) return p;
  YZ_ASSERT(false, "stage output '", in.ref, "' is not planned");
}

std::vector<std::string> stage_argv(const Recipe& recipe, const Stage& stage,
                                    const fs::path& stage_dir,
                                    const std::vector<std::pair<std::string, fs::path>>& outputs,
                                    size_t row) {
  std::vector<std::string> a;
  auto add_inputs = [&](const std::string& role, const std::string& flag) {
    bool first = true;
    for (const auto& [r, in] : stage.inputs) {
      if (r != role) continue;
      if (first) a.push_back(flag);
      first = false;
      a.push_back(resolve_input(recipe, in, outputs).string());
    }
  };
  switch (stage.kind) {
    case StageKind::kData:
      a = {"data", "fin-sft", "--data-dir", recipe.data_dir.string()};
      break;
    case StageKind::kConvert:
      a = {"convert", "--device", recipe.device};
      add_inputs("model", "--model");
      add_inputs("calib", "--calib");
      break;
    case StageKind::kDistill:
      a = {"train", "distill", "--device", recipe.device};
      add_inputs("teacher", "--teacher");
      add_inputs("student", "--student");
      add_inputs("data", "--data");
      add_inputs("eval_files", "--eval-file");
      break;
    case StageKind::kSft:
      a = {"train", "sft", "--device", recipe.device};
      add_inputs("model", "--model");
      add_inputs("teacher", "--teacher");
      add_inputs("data", "--data");
      add_inputs("eval_files", "--eval-file");
      break;
    case StageKind::kEval:
      a = {"eval", resolve_input(recipe, stage.models.at(row).second, outputs).string(), "--device",
           recipe.device, "--data-dir", recipe.data_dir.string(), "--out",
           (stage_dir / ("row" + std::to_string(row) + ".json")).string(), "--overwrite"};
      break;
  }
  if (stage.kind != StageKind::kEval) {
    a.push_back("--out");
    a.push_back(stage_output(stage, stage_dir).string());
    a.push_back("--json");
  }
  for (auto it = stage.args.begin(); it != stage.args.end(); ++it) {
    const Json& v = it.value();
    if (v.is_boolean() && !v.get<bool>()) continue;
    a.push_back("--" + it.key());
    auto scalar = [](const Json& x) { return x.is_string() ? x.get<std::string>() : x.dump(); };
    if (v.is_array())
      for (const Json& x : v) a.push_back(scalar(x));
    else if (!v.is_boolean())
      a.push_back(scalar(v));
  }
  return a;
}

}  // namespace yz::pipeline
