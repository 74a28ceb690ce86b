// `youzhi import-llama2c MODEL.bin TOKENIZER.model --out DIR`.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "convert/llama2c.h"

namespace yz::apps {

Command add_import_llama2c(CLI::App& app) {
  struct Opts {
    std::string model, tokenizer, out;
    bool overwrite = false, json = false;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("MODEL_BIN", o->model, "llama2.c checkpoint (.bin)")->required();
  app.add_option("TOKENIZER_MODEL", o->tokenizer, "SentencePiece model (.model)")->required();
  app.add_option("--out", o->out, "Output Hugging Face directory")->required();
  app.add_flag("--overwrite", o->overwrite, "Replace an existing output directory");
  app.add_flag("--json", o->json, "Print one JSON object");
  return [o]() {
    ImportSummary s = import_llama2c(o->model, o->tokenizer, o->out, o->overwrite);
    nlohmann::ordered_json j = {
        {"out", o->out},           {"hidden_size", s.header.dim},
        {"num_hidden_layers", s.header.n_layers}, {"num_attention_heads", s.header.n_heads},
        {"num_key_value_heads", s.header.n_kv_heads}, {"vocab_size", s.header.vocab_size},
        {"num_params", s.num_params}};
    if (o->json) std::printf("%s\n", j.dump().c_str());
    else
      std::printf("wrote %s: llama, %d layers, %d heads (%d KV), vocab %d, %lld parameters\n",
                  o->out.c_str(), s.header.n_layers, s.header.n_heads, s.header.n_kv_heads,
                  s.header.vocab_size, static_cast<long long>(s.num_params));
    return 0;
  };
}

}  // namespace yz::apps
