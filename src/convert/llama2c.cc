// llama2.c -> Hugging Face Llama directory (see llama2c.h). Layout read as in llama2.c run.c
// memory_map_weights(): embeddings, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final,
// freq_cis_real/imag (ignored), optional classifier.
#include "convert/llama2c.h"

#include <ATen/ATen.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "model/hf_names.h"
#include "tokenizer/sentencepiece.h"
#include "util/error.h"
#include "util/safetensors_writer.h"
#include "util/tensor.h"

namespace yz {

namespace {
constexpr size_t kHeaderBytes = 7 * sizeof(int32_t);
constexpr double kLlama2cRmsEps = 1e-5;     // run.c rmsnorm
constexpr double kLlama2cRopeTheta = 10000.0;  // run.c: 10000^(head_dim_index / head_size)

// Interleaved pairs (2i, 2i+1) per head -> halves (i, i + D/2): transformers'
// convert_llama_weights_to_hf.py permute().
at::Tensor permute_rotary(const at::Tensor& w, int64_t heads) {
  const int64_t out = w.size(0), in = w.size(1);
  return w.view({heads, out / heads / 2, 2, in}).transpose(1, 2).reshape({out, in}).contiguous();
}
}  // namespace

Llama2cHeader parse_llama2c_header(const uint8_t* data, size_t size, const std::string& src) {
  YZ_CHECK(size >= kHeaderBytes, src, ": truncated llama2.c checkpoint (", size,
           " bytes, header needs 28)");
  int32_t f[7];
  std::memcpy(f, data, kHeaderBytes);
  Llama2cHeader h{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[5] > 0};
  YZ_CHECK(h.dim > 0 && h.hidden_dim > 0 && h.n_layers > 0 && h.n_heads > 0 && h.n_kv_heads > 0 &&
               h.vocab_size != 0 && h.seq_len > 0,
           src, ": not a llama2.c checkpoint (header dim=", h.dim, " hidden=", h.hidden_dim,
           " layers=", h.n_layers, " heads=", h.n_heads, " kv_heads=", h.n_kv_heads,
           " vocab=", h.vocab_size, " seq_len=", h.seq_len, ")");
  YZ_CHECK(h.dim % h.n_heads == 0 && (h.dim / h.n_heads) % 2 == 0, src, ": dim ", h.dim,
           " is not an even multiple of n_heads ", h.n_heads);
  YZ_CHECK(h.n_heads % h.n_kv_heads == 0, src, ": n_heads ", h.n_heads,
           " is not a multiple of n_kv_heads ", h.n_kv_heads);
  h.vocab_size = h.vocab_size < 0 ? -h.vocab_size : h.vocab_size;
  const uint64_t D = h.dim / h.n_heads, kv = D * h.n_kv_heads, L = h.n_layers;
  uint64_t floats = uint64_t(h.vocab_size) * h.dim + L * h.dim + L * h.dim * h.dim * 2 +
                    L * kv * h.dim * 2 + L * h.dim + L * 3ull * h.hidden_dim * h.dim + h.dim +
                    uint64_t(h.seq_len) * D;  // freq_cis real + imag: 2 * seq_len * D/2
  if (!h.shared_classifier) floats += uint64_t(h.vocab_size) * h.dim;
  YZ_CHECK(size == kHeaderBytes + floats * 4, src, ": size ", size, " bytes does not match ",
           "its header (expected ", kHeaderBytes + floats * 4, " bytes)");
  return h;
}

ImportSummary import_llama2c(const fs::path& model_bin, const fs::path& tokenizer_model,
                             const fs::path& out_dir, bool overwrite) {
  // Validate every input before creating anything.
  auto file = MappedFile::open(model_bin);
  const Llama2cHeader h = parse_llama2c_header(file->data(), file->size(), model_bin.string());
  const tok::SentencePieceModel spm = tok::read_sentencepiece_model(tokenizer_model);
  YZ_CHECK(static_cast<int64_t>(spm.pieces.size()) == h.vocab_size, tokenizer_model.string(),
           ": has ", spm.pieces.size(), " pieces but ", model_bin.string(), " has vocab ",
           h.vocab_size);
  nlohmann::ordered_json tokenizer = tok::sentencepiece_to_tokenizer_json(spm);

  StagedDir out(out_dir, overwrite, {model_bin, tokenizer_model});
  const int64_t d = h.dim, L = h.n_layers, D = h.dim / h.n_heads, kv = D * h.n_kv_heads;
  const int64_t hid = h.hidden_dim, V = h.vocab_size;
  const float* p = reinterpret_cast<const float*>(file->data() + kHeaderBytes);
  auto take = [&](std::vector<int64_t> shape) {  // next block of the file as a tensor view
    int64_t n = 1;
    for (auto s : shape) n *= s;
    at::Tensor t = at::from_blob(const_cast<float*>(p), shape, at::kFloat);
    p += n;
    return t;
  };
  at::Tensor emb = take({V, d}), rms_att = take({L, d}), wq = take({L, d, d}),
             wk = take({L, kv, d}), wv = take({L, kv, d}), wo = take({L, d, d}),
             rms_ffn = take({L, d}), w1 = take({L, hid, d}), w2 = take({L, d, hid}),
             w3 = take({L, hid, d}), rms_final = take({d});
  p += h.seq_len * D;  // freq_cis_real and freq_cis_imag: recomputed from theta instead
  at::Tensor cls = h.shared_classifier ? at::Tensor() : take({V, d});

  ShardedWriter writer(out.path());
  write_tensor(writer, "model.embed_tokens.weight", emb);
  for (int64_t l = 0; l < L; ++l) {
    const std::string pre = layer_prefix(l);
    write_tensor(writer, pre + "input_layernorm.weight", rms_att[l]);
    write_tensor(writer, pre + "self_attn.q_proj.weight", permute_rotary(wq[l], h.n_heads));
    write_tensor(writer, pre + "self_attn.k_proj.weight", permute_rotary(wk[l], h.n_kv_heads));
    write_tensor(writer, pre + "self_attn.v_proj.weight", wv[l]);
    write_tensor(writer, pre + "self_attn.o_proj.weight", wo[l]);
    write_tensor(writer, pre + "post_attention_layernorm.weight", rms_ffn[l]);
    write_tensor(writer, pre + "mlp.gate_proj.weight", w1[l]);
    write_tensor(writer, pre + "mlp.down_proj.weight", w2[l]);
    write_tensor(writer, pre + "mlp.up_proj.weight", w3[l]);
  }
  write_tensor(writer, "model.norm.weight", rms_final);
  if (cls.defined()) write_tensor(writer, "lm_head.weight", cls);
  writer.finish();

  const std::string bos = spm.bos_id >= 0 ? spm.pieces.at(spm.bos_id).piece : "";
  const std::string eos = spm.eos_id >= 0 ? spm.pieces.at(spm.eos_id).piece : "";
  nlohmann::ordered_json config = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_size", d},
      {"intermediate_size", hid},
      {"num_hidden_layers", L},
      {"num_attention_heads", h.n_heads},
      {"num_key_value_heads", h.n_kv_heads},
      {"head_dim", D},
      {"vocab_size", V},
      {"max_position_embeddings", h.seq_len},
      {"rms_norm_eps", kLlama2cRmsEps},
      {"rope_theta", kLlama2cRopeTheta},
      {"rope_scaling", nullptr},
      {"hidden_act", "silu"},
      {"attention_bias", false},
      {"mlp_bias", false},
      {"tie_word_embeddings", h.shared_classifier},
      {"bos_token_id", spm.bos_id},
      {"eos_token_id", spm.eos_id},
      {"torch_dtype", "float32"},
      {"youzhi", {{"imported_from", "llama2.c"}, {"source", model_bin.filename().string()}}}};
  write_file_atomic(out.path() / "config.json", config.dump(2) + "\n");
  nlohmann::ordered_json gen = {{"bos_token_id", spm.bos_id}, {"eos_token_id", spm.eos_id}};
  write_file_atomic(out.path() / "generation_config.json", gen.dump(2) + "\n");
  write_file_atomic(out.path() / "tokenizer.json", tokenizer.dump(2) + "\n");
  nlohmann::ordered_json tok_config = {{"tokenizer_class", "LlamaTokenizerFast"},
                                       {"bos_token", bos},
                                       {"eos_token", eos},
                                       {"unk_token", spm.pieces.at(spm.unk_id).piece},
                                       {"add_bos_token", true},
                                       {"add_eos_token", false},
                                       {"model_max_length", h.seq_len}};
  write_file_atomic(out.path() / "tokenizer_config.json", tok_config.dump(2) + "\n");
  ImportSummary summary{h, writer.num_params(), static_cast<int64_t>(spm.pieces.size())};
  out.commit();
  return summary;
}

}  // namespace yz
