// `youzhi tokenize` and `youzhi detokenize`: a model's (or any) tokenizer.json from the shell.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/commands.h"
#include "apps/ids.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/text_file.h"

namespace yz::apps {

namespace {

struct Source {
  std::string model, tokenizer;
  void add(CLI::App& app) {
    auto* m = app.add_option("MODEL", model, "Model directory holding tokenizer.json");
    auto* t = app.add_option("--tokenizer", tokenizer, "A tokenizer.json file");
    m->excludes(t);
  }
  tok::Tokenizer load() const {
    if (model.empty() && tokenizer.empty())
      YZ_THROW(ErrorKind::kUsage, "give a MODEL directory or --tokenizer FILE");
    return tok::Tokenizer::from_file(model.empty() ? fs::path(tokenizer) : fs::path(model));
  }
};

}  // namespace

Command add_tokenize(CLI::App& app) {
  struct Opts {
    Source src;
    std::string text, text_file;
    bool no_special = false, json = false;
  };
  auto o = std::make_shared<Opts>();
  o->src.add(app);
  auto* t = app.add_option("--text", o->text, "Text to tokenize");
  auto* f = app.add_option("--text-file", o->text_file, "File to tokenize (.xz accepted)");
  t->excludes(f);
  app.add_flag("--no-special", o->no_special, "Do not add the post-processor's special tokens");
  app.add_flag("--json", o->json, "Print {\"ids\": [...]}");
  return [o, t, f]() {
    if (t->count() == 0 && f->count() == 0)
      YZ_THROW(ErrorKind::kUsage, "give --text T or --text-file F");
    tok::Tokenizer tk = o->src.load();
    std::string text = f->count() ? read_text_input(o->text_file) : o->text;
    std::vector<int32_t> ids = tk.encode(text, !o->no_special);
    if (o->json) {
      std::printf("%s\n", nlohmann::json{{"ids", ids}}.dump().c_str());
    } else {
      for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
      std::printf("\n");
    }
    return 0;
  };
}

Command add_detokenize(CLI::App& app) {
  struct Opts {
    Source src;
    std::string ids, ids_file;
    bool skip_special = false, json = false;
  };
  auto o = std::make_shared<Opts>();
  o->src.add(app);
  auto* i = app.add_option("--ids", o->ids, "Token ids: 1,2,3");
  auto* f = app.add_option("--ids-file", o->ids_file, "File of ids (or {\"ids\": [...]})");
  i->excludes(f);
  app.add_flag("--skip-special", o->skip_special, "Leave special tokens out of the text");
  app.add_flag("--json", o->json, "Print {\"text\": ...}");
  return [o, i, f]() {
    if (i->count() == 0 && f->count() == 0)
      YZ_THROW(ErrorKind::kUsage, "give --ids 1,2,3 or --ids-file F");
    tok::Tokenizer tk = o->src.load();
    std::vector<int32_t> ids = f->count() ? parse_ids(read_text_input(o->ids_file), o->ids_file)
                                          : parse_ids(o->ids, "--ids");
    check_ids_in_range(ids, tk.vocab_size());
    std::string text = tk.decode(ids, o->skip_special);
    if (o->json) std::printf("%s\n", nlohmann::json{{"text", text}}.dump().c_str());
    else std::printf("%s\n", text.c_str());
    return 0;
  };
}

}  // namespace yz::apps
