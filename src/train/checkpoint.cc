// Run directory, checkpoints and weight export (see checkpoint.h).
#include "train/checkpoint.h"

#include <algorithm>
#include <cstdio>

#include "util/error.h"
#include "util/json_file.h"
#include "util/safetensors.h"
#include "util/tensor.h"

namespace yz::train {

namespace {

constexpr const char* kCkptPrefix = "ckpt-";
// Files a model directory carries besides weights (the converter copies the same list).
constexpr const char* kModelFiles[] = {"config.json", "tokenizer.json", "tokenizer_config.json",
                                       "chat_template.jinja", "generation_config.json",
                                       "special_tokens_map.json"};

std::string ckpt_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%s%06lld", kCkptPrefix, static_cast<long long>(step));
  return buf;
}

// Checkpoint directories under OUT/train, newest first.
std::vector<fs::path> list_checkpoints(const fs::path& out) {
  std::vector<fs::path> dirs;
  const fs::path train = out / "train";
  if (!fs::is_directory(train)) return dirs;
  for (const auto& e : fs::directory_iterator(train)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && n.rfind(kCkptPrefix, 0) == 0 &&
        n.find_first_not_of("0123456789", std::string(kCkptPrefix).size()) == std::string::npos)
      dirs.push_back(e.path());
  }
  std::sort(dirs.begin(), dirs.end(), [](const fs::path& a, const fs::path& b) {
    return a.filename().string() > b.filename().string();  // zero-padded: lexical = numeric
  });
  return dirs;
}

std::vector<std::pair<std::string, torch::Tensor>> read_tensors(const fs::path& file) {
  Checkpoint ckpt(file);
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& name : ckpt.names()) out.emplace_back(name, to_tensor(ckpt.view(name)).clone());
  return out;
}

// Empty when every file listed in checksums.json exists with its size and CRC-64; otherwise
// what is wrong.
std::string verify(const fs::path& dir) {
  const fs::path sums = dir / "checksums.json";
  if (!fs::is_regular_file(sums)) return "checksums.json is missing";
  nlohmann::json j;
  try {
    j = read_json_file(sums);
  } catch (const Error& e) {
    return e.what();
  }
  for (const char* f : {"trainable.safetensors", "optimizer.safetensors", "state.json"})
    if (!j.contains(f)) return std::string("checksums.json does not list ") + f;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const fs::path f = dir / it.key();
    if (!fs::is_regular_file(f)) return it.key() + " is missing";
    if (fs::file_size(f) != it.value().at("bytes").get<uint64_t>()) return it.key() + " has the wrong size";
    if (file_crc64(f) != std::stoull(it.value().at("crc64").get<std::string>(), nullptr, 16))
      return it.key() + " fails its checksum";
  }
  return {};
}

}  // namespace

nlohmann::json state_to_json(const TrainState& s) {
  return {{"step", s.step},
          {"tokens", s.tokens},
          {"cursor", {{"epoch", s.cursor.epoch}, {"doc", s.cursor.doc}, {"offset", s.cursor.offset}}}};
}

TrainState state_from_json(const nlohmann::json& j, const std::string& source) {
  try {
    TrainState s;
    s.step = j.at("step").get<int64_t>();
    s.tokens = j.at("tokens").get<int64_t>();
    s.cursor.epoch = j.at("cursor").at("epoch").get<int64_t>();
    s.cursor.doc = j.at("cursor").at("doc").get<int64_t>();
    s.cursor.offset = j.at("cursor").at("offset").get<int64_t>();
    return s;
  } catch (const nlohmann::json::exception& e) {
    YZ_THROW(ErrorKind::kInvalidInput, source, ": malformed training state (", e.what(), ")");
  }
}

void create_run_dir(const fs::path& out, const fs::path& student, const nlohmann::json& args,
                    bool overwrite, const std::vector<fs::path>& inputs) {
  StagedDir dir(out, overwrite, inputs);
  for (const char* f : kModelFiles)
    if (fs::is_regular_file(student / f)) write_file_atomic(dir.path() / f, read_text_file(student / f));
  for (const auto& e : fs::directory_iterator(student)) {
    const std::string n = e.path().filename().string();
    const bool weights = n.size() > 12 && (n.substr(n.size() - 12) == ".safetensors" ||
                                           n == "model.safetensors.index.json");
    if (!e.is_regular_file() || !weights) continue;
    std::error_code ec;
    fs::create_hard_link(e.path(), dir.path() / n, ec);
    if (ec) fs::copy_file(e.path(), dir.path() / n);
  }
  fs::create_directories(dir.path() / "train");
  write_file_atomic(dir.path() / "train" / "args.json", args.dump(2) + "\n");
  dir.commit();
}

void save_checkpoint(const fs::path& out, const TrainableParams& trainable, const AdamW& optimizer,
                     const TrainState& state, int64_t keep) {
  StagedDir dir(out / "train" / ckpt_name(state.step), /*overwrite=*/true);
  std::vector<std::pair<std::string, at::Tensor>> masters;
  for (size_t i = 0; i < trainable.names.size(); ++i)
    masters.emplace_back(trainable.names[i], trainable.masters[i].detach().cpu());
  save_safetensors(dir.path() / "trainable.safetensors", masters, {{"format", "pt"}});
  std::vector<std::pair<std::string, at::Tensor>> moments;
  for (const auto& [name, t] : optimizer.state()) moments.emplace_back(name, t.cpu());
  save_safetensors(dir.path() / "optimizer.safetensors", moments,
                   {{"optimizer_steps", std::to_string(optimizer.steps())}});
  write_file_atomic(dir.path() / "state.json", state_to_json(state).dump(2) + "\n");
  nlohmann::json sums;
  for (const char* f : {"trainable.safetensors", "optimizer.safetensors", "state.json"}) {
    char crc[24];
    std::snprintf(crc, sizeof(crc), "%016llx",
                  static_cast<unsigned long long>(file_crc64(dir.path() / f)));
    sums[f] = {{"bytes", fs::file_size(dir.path() / f)}, {"crc64", crc}};
  }
  write_file_atomic(dir.path() / "checksums.json", sums.dump(2) + "\n");
  dir.commit();
  if (keep <= 0) return;
  std::vector<fs::path> all = list_checkpoints(out);
  for (size_t i = static_cast<size_t>(keep); i < all.size(); ++i) remove_tree(all[i]);
}

std::optional<TrainState> load_latest_checkpoint(const fs::path& out, TrainableParams& trainable,
                                                 AdamW& optimizer,
                                                 const std::function<void(const std::string&)>& warn) {
  for (const fs::path& dir : list_checkpoints(out)) {
    const std::string problem = verify(dir);
    if (!problem.empty()) {
      warn("checkpoint " + dir.string() + " is damaged (" + problem + "); trying an older one");
      continue;
    }
    const TrainState state =
        state_from_json(read_json_file(dir / "state.json"), (dir / "state.json").string());
    std::map<std::string, torch::Tensor> masters;
    for (auto& [name, t] : read_tensors(dir / "trainable.safetensors")) masters[name] = t;
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < trainable.names.size(); ++i) {
      auto it = masters.find(trainable.names[i]);
      YZ_CHECK(it != masters.end(), dir.string(), ": checkpoint lacks trainable tensor '",
               trainable.names[i], "' (was the run started with another --train group?)");
      YZ_CHECK(it->second.sizes() == trainable.masters[i].sizes(), dir.string(), ": tensor '",
               trainable.names[i], "' has shape ", it->second.sizes(), ", the model ",
               trainable.masters[i].sizes());
      trainable.masters[i].copy_(it->second);
    }
    Checkpoint opt(dir / "optimizer.safetensors");
    const auto& meta = opt.metadata();
    auto steps = meta.find("optimizer_steps");
    YZ_CHECK(steps != meta.end(), dir.string(), ": optimizer.safetensors lacks optimizer_steps");
    optimizer.load_state(read_tensors(dir / "optimizer.safetensors"), std::stoll(steps->second));
    copy_masters_to_params(trainable);
    return state;
  }
  return std::nullopt;
}

void export_weights(const fs::path& out, const fs::path& student, CausalLm& lm) {
  Checkpoint src(student);
  const fs::path tmp = out / ".export.partial";
  remove_tree(tmp);
  fs::create_directories(tmp);
  {
    ShardedWriter writer(tmp, /*max_shard_bytes=*/UINT64_MAX);
    torch::NoGradGuard no_grad;
    for (const auto& item : lm->named_parameters()) {
      const at::ScalarType dtype =
          src.has(item.key()) ? to_scalar_type(src.info(item.key()).dtype) : item.value().scalar_type();
      write_tensor(writer, item.key(), item.value().detach().to(torch::kCPU, dtype));
    }
    writer.finish();
  }
  fs::rename(tmp / "model.safetensors", out / "model.safetensors");
  fsync_path(out);
  remove_tree(tmp);
  // A sharded original's files go after the new weights are in place (a loader reading the old
  // index meanwhile still finds complete, older weights).
  if (fs::exists(out / "model.safetensors.index.json")) {
    const nlohmann::json index = read_json_file(out / "model.safetensors.index.json");
    fs::remove(out / "model.safetensors.index.json");
    for (auto it = index.at("weight_map").begin(); it != index.at("weight_map").end(); ++it)
      if (it.value().get<std::string>() != "model.safetensors") fs::remove(out / it.value().get<std::string>());
  }
}

}  // namespace yz::train
