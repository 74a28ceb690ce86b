// `youzhi data`: data sets built from ../shared/data. `data fpb-train` writes the Financial
// PhraseBank train split that holds no sentence of FinLoRA's FPB test split (the one `youzhi eval`
// scores), in FinLoRA's {"context", "target"} format, so fine-tuning on it cannot leak test rows.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "eval/tasks.h"
#include "util/error.h"
#include "util/fs.h"

namespace yz::apps {

Command add_data(CLI::App& app) {
  app.require_subcommand(1);
  CLI::App* fpb = app.add_subcommand(
      "fpb-train", "Sentences_50Agree minus every FinLoRA FPB test sentence, as FinLoRA JSONL");
  struct Opts {
    std::string out, data_dir;
    bool overwrite = false, json = false;
  };
  auto o = std::make_shared<Opts>();
  fpb->add_option("--out", o->out, "Output JSONL")->required();
  fpb->add_option("--data-dir", o->data_dir, "Shared data folder (default ../shared/data)");
  fpb->add_flag("--overwrite", o->overwrite, "Replace an existing output");
  fpb->add_flag("--json", o->json, "Print {\"out\", \"rows\", \"excluded\", \"labels\"}");
  return [o]() {
    YZ_CHECK(o->overwrite || !fs::exists(o->out), "output ", o->out,
             " already exists; pass --overwrite to replace it");
    int64_t excluded = 0;
    const std::vector<Doc> docs =
        fpb_train_docs(o->data_dir.empty() ? default_data_dir() : fs::path(o->data_dir), &excluded);
    std::string text;
    nlohmann::ordered_json labels = nlohmann::ordered_json::object();
    for (const Doc& d : docs) {
      text += nlohmann::ordered_json{{"context", d.text}, {"target", d.answer()}}.dump() + "\n";
      labels[d.answer()] = labels.value(d.answer(), 0) + 1;
    }
    write_file_atomic(o->out, text);
    if (o->json) {
      std::printf(
          "%s\n",
          nlohmann::ordered_json{
              {"out", o->out}, {"rows", docs.size()}, {"excluded", excluded}, {"labels", labels}}
              .dump()
              .c_str());
    } else {
      std::printf(
          "wrote %s: %zu rows (%s); %lld lines of Sentences_50Agree dropped as FPB test "
          "sentences\n",
          o->out.c_str(), docs.size(), labels.dump().c_str(), static_cast<long long>(excluded));
    }
    return 0;
  };
}

}  // namespace yz::apps
