// `youzhi data`: data sets built from ../shared/data. `data fpb-train` writes the Financial
// PhraseBank train split that holds no sentence of FinLoRA's FPB test split (the one `youzhi eval`
// scores), in FinLoRA's {"context", "target"} format, so fine-tuning on it cannot leak test rows.
// `data fin-sft` writes the whole financial SFT mixture (train/fin_sft.h) with per-source counts
// after dropping every row that matches a test document; `data leak-check` checks any
// completion JSONL against every test set (exit 1 naming FILE:LINE of each leak).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "eval/formats.h"
#include "eval/tasks.h"
#include "train/fin_sft.h"
#include "util/error.h"
#include "util/fs.h"

namespace yz::apps {

namespace {

Command add_fin_sft(CLI::App& app) {
  struct Opts {
    std::string out, data_dir;
    double text_share = 0;
    bool overwrite = false, json = false;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("--out", o->out, "Output JSONL ({source, context, target} rows)")->required();
  app.add_option("--data-dir", o->data_dir, "Shared data folder (default ../shared/data)");
  app.add_option("--text-share", o->text_share,
                 "Share of the rows that are financial text paragraphs (corpus/fin_domain.txt.xz)");
  app.add_flag("--overwrite", o->overwrite, "Replace an existing output");
  app.add_flag("--json", o->json, "Print {\"out\", \"rows\", \"counts\", \"dropped\", \"test_documents\"}");
  return [o]() {
    YZ_CHECK(o->overwrite || !fs::exists(o->out), "output ", o->out,
             " already exists; pass --overwrite to replace it");
    train::FinSftOptions fo;
    fo.data_dir = data_dir_or_default(o->data_dir);
    fo.text_share = o->text_share;
    const train::TestSetIndex index(fo.data_dir);
    const train::FinSftMixture mix = train::build_fin_sft(fo, index);
    write_file_atomic(o->out, train::sft_rows_jsonl(mix.rows));
    if (o->json) {
      std::printf("%s\n", nlohmann::ordered_json{{"out", o->out},
                                                 {"rows", mix.rows.size()},
                                                 {"counts", mix.counts},
                                                 {"dropped", mix.dropped},
                                                 {"test_documents", index.documents()}}
                              .dump()
                              .c_str());
      return 0;
    }
    std::printf("wrote %s: %zu rows\n", o->out.c_str(), mix.rows.size());
    for (auto it = mix.counts.begin(); it != mix.counts.end(); ++it)
      std::printf("  %-20s %6lld rows  (%lld dropped: equal to a test document)\n", it.key().c_str(),
                  static_cast<long long>(it.value().get<int64_t>()),
                  static_cast<long long>(mix.dropped[it.key()].get<int64_t>()));
    std::printf("leak check: no row equals any of %lld test documents (exact or whitespace-normalised)\n",
                static_cast<long long>(index.documents()));
    return 0;
  };
}

Command add_leak_check(CLI::App& app) {
  struct Opts {
    std::vector<std::string> files;
    std::string data_dir;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("FILE", o->files, "Completion JSONL files (context, target)")->required()->expected(1, -1);
  app.add_option("--data-dir", o->data_dir, "Shared data folder (default ../shared/data)");
  return [o]() {
    const train::TestSetIndex index(data_dir_or_default(o->data_dir));
    std::string leaks;
    int64_t n = 0, rows = 0;
    for (const auto& f : o->files) {
      const std::vector<JsonlRow> jr = read_jsonl(f);
      std::vector<train::SftRow> sft;
      for (const JsonlRow& r : jr)
        sft.push_back({"", jsonl_string(f, r, "context"), jsonl_string(f, r, "target")});
      for (const train::Leak& l : train::find_leaks(sft, index)) {
        if (++n <= 10) leaks += "\n  " + f + ":" + std::to_string(jr[l.row].line) + ": equals " + l.test;
      }
      rows += static_cast<int64_t>(sft.size());
    }
    YZ_CHECK(n == 0, n, " of ", rows, " rows equal a test document", leaks, n > 10 ? "\n  ..." : "");
    std::printf("leak check: none of %lld rows equals any of %lld test documents (exact or "
                "whitespace-normalised)\n",
                static_cast<long long>(rows), static_cast<long long>(index.documents()));
    return 0;
  };
}

}  // namespace

Command add_data(CLI::App& app) {
  app.require_subcommand(1);
  CLI::App* mix = app.add_subcommand(
      "fin-sft", "The financial SFT mixture (FPB train, FinLoRA train sets, FinEval/FinanceIQ dev), leak-checked");
  Command fin_sft = add_fin_sft(*mix);
  Command leak_check = add_leak_check(*app.add_subcommand(
      "leak-check", "Check completion JSONL rows against every test set (exact and whitespace-normalised)"));
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
  Command fpb_train = [o]() {
    YZ_CHECK(o->overwrite || !fs::exists(o->out), "output ", o->out,
             " already exists; pass --overwrite to replace it");
    int64_t excluded = 0;
    const std::vector<Doc> docs =
        fpb_train_docs(data_dir_or_default(o->data_dir), &excluded);
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
  return [fpb, mix, fin_sft, leak_check, fpb_train]() {
    return fpb->parsed() ? fpb_train() : mix->parsed() ? fin_sft() : leak_check();
  };
}

}  // namespace yz::apps
