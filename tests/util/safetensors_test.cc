// Safetensors reading and writing: table-driven malformed inputs (each must fail with an error
// naming the file and the problem), sharded round trips, zero-copy views, F8 decoding.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "util/error.h"
#include "util/safetensors.h"
#include "util/safetensors_writer.h"
#include "util/tensor.h"

namespace yz {
namespace {

using test::TempDir;

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

std::string file_with_header(const std::string& header, size_t data_bytes) {
  return le64(header.size()) + header + std::string(data_bytes, '\x01');
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary).write(bytes.data(), bytes.size());
}

struct BadFile {
  const char* name;
  std::string bytes;
  const char* expected;  // substring of the error message
};

void PrintTo(const BadFile& b, std::ostream* os) { *os << b.name; }

class MalformedSafetensors : public ::testing::TestWithParam<BadFile> {};

TEST_P(MalformedSafetensors, FailsWithNamedError) {
  const BadFile& c = GetParam();
  TempDir dir;
  fs::path p = dir / "bad.safetensors";
  write_bytes(p, c.bytes);
  try {
    SafetensorsFile f(p);
    FAIL() << "accepted a malformed file: " << c.name;
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("bad.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.expected), std::string::npos) << "message: " << msg;
  }
}

const std::string kOk = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

INSTANTIATE_TEST_SUITE_P(
    Table, MalformedSafetensors,
    ::testing::Values(
        BadFile{"empty", "", "truncated"},
        BadFile{"short", "\x05\x00\x00", "truncated"},
        BadFile{"header_past_end", le64(1000) + "{}", "past the end"},
        BadFile{"header_huge", le64(uint64_t{1} << 40) + "{}", "100 MB"},
        BadFile{"not_json", file_with_header("{not json", 0), "not valid JSON"},
        BadFile{"not_object", file_with_header("[1,2,3]", 0), "not a JSON object"},
        BadFile{"offsets_out_of_range", file_with_header("{" + kOk + "}", 4), "out of range"},
        BadFile{"overlap",
                file_with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                 12),
                "overlap"},
        BadFile{"size_mismatch",
                file_with_header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                "does not match"},
        BadFile{"unknown_dtype",
                file_with_header(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8),
                "unknown dtype 'Q4'"},
        BadFile{"duplicate", file_with_header("{" + kOk + "," + kOk + "}", 8), "duplicate"},
        BadFile{"reversed",
                file_with_header(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 8),
                "reversed"},
        BadFile{"negative_shape",
                file_with_header(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", 0),
                "non-negative"},
        BadFile{"shape_overflow",
                file_with_header(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296,)"
                                 R"(4294967296],"data_offsets":[0,8]}})", 8),
                "overflow"},
        BadFile{"missing_offsets", file_with_header(R"({"a":{"dtype":"U8","shape":[1]}})", 1),
                "data_offsets"},
        BadFile{"bad_metadata", file_with_header(R"({"__metadata__":{"k":1}})", 0),
                "__metadata__"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Safetensors, ShardedRoundTripIsZeroCopy) {
  TempDir dir;
  at::manual_seed(3);
  std::map<std::string, at::Tensor> tensors = {
      {"f32", at::randn({17, 5})},
      {"bf16", at::randn({64, 33}).to(at::kBFloat16)},
      {"f16", at::randn({3, 7, 2}).to(at::kHalf)},
      {"i64", at::randint(-1000, 1000, {11}, at::kLong)},
      {"scalar", at::randn({})},
      {"empty", at::empty({0, 4})},
  };
  {
    ShardedWriter w(dir.path(), /*max_shard_bytes=*/2048, {{"format", "pt"}, {"note", "x"}});
    for (const auto& [name, t] : tensors) write_tensor(w, name, t);
    w.finish();
  }
  ASSERT_TRUE(fs::exists(dir / "model.safetensors.index.json"));
  ASSERT_FALSE(fs::exists(dir / "model.safetensors"));
  Checkpoint ckpt(dir.path());
  EXPECT_EQ(ckpt.names().size(), tensors.size());
  EXPECT_EQ(ckpt.metadata().at("note"), "x");
  int64_t params = 0;
  for (const auto& [name, t] : tensors) {
    at::Tensor back = to_tensor(ckpt.view(name));
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(at::equal(back, t)) << name;
    params += t.numel();
  }
  EXPECT_EQ(ckpt.num_params(), params);
  // Zero copy: the tensor's storage is the view's bytes inside the mapping.
  TensorView v = ckpt.view("bf16");
  at::Tensor t = to_tensor(v);
  EXPECT_EQ(t.data_ptr(), static_cast<const void*>(v.data));
  // Writing through it changes memory only, never the file (private mapping).
  t.zero_();
  Checkpoint again(dir.path());
  EXPECT_TRUE(at::equal(to_tensor(again.view("bf16")), tensors["bf16"]));
  // Every shard respects the size limit unless a single tensor is bigger.
  auto index = nlohmann::json::parse(read_text_file(dir / "model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_parameters"].get<int64_t>(), params);
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(Safetensors, SingleShardIsModelSafetensors) {
  TempDir dir;
  ShardedWriter w(dir.path());
  write_tensor(w, "x", at::arange(10, at::kFloat));
  w.finish();
  EXPECT_TRUE(fs::exists(dir / "model.safetensors"));
  EXPECT_FALSE(fs::exists(dir / "model.safetensors.index.json"));
  Checkpoint c(dir.path());
  EXPECT_TRUE(at::equal(to_tensor(c.view("x")), at::arange(10, at::kFloat)));
  EXPECT_THROW(c.view("y"), Error);
}

TEST(Safetensors, WriterRejectsDuplicateNames) {
  TempDir dir;
  ShardedWriter w(dir.path());
  write_tensor(w, "x", at::ones({2}));
  EXPECT_THROW(write_tensor(w, "x", at::ones({2})), Error);
}

// Writes a two-shard checkpoint and returns its directory's index path.
fs::path two_shards(const TempDir& dir) {
  ShardedWriter w(dir.path(), /*max_shard_bytes=*/16);
  write_tensor(w, "a", at::ones({4}));
  write_tensor(w, "b", at::ones({4}));
  w.finish();
  return dir / "model.safetensors.index.json";
}

TEST(Safetensors, MissingShardIsNamed) {
  TempDir dir;
  two_shards(dir);
  fs::remove(dir / "model-00002-of-00002.safetensors");
  try {
    Checkpoint c(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shard 'model-00002-of-00002.safetensors'"),
              std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos);
  }
}

TEST(Safetensors, TensorNamedInIndexButAbsent) {
  TempDir dir;
  fs::path index = two_shards(dir);
  auto j = nlohmann::json::parse(read_text_file(index));
  j["weight_map"]["ghost"] = "model-00001-of-00002.safetensors";
  write_file_atomic(index, j.dump());
  try {
    Checkpoint c(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'ghost' is named in the index but absent"),
              std::string::npos) << e.what();
  }
}

TEST(Safetensors, IndexMustBeJsonAndStayInDirectory) {
  TempDir dir;
  fs::path index = two_shards(dir);
  auto j = nlohmann::json::parse(read_text_file(index));
  j["weight_map"]["a"] = "../elsewhere.safetensors";
  write_file_atomic(index, j.dump());
  EXPECT_THROW(Checkpoint{dir.path()}, Error);
  write_file_atomic(index, "{oops");
  EXPECT_THROW(Checkpoint{dir.path()}, Error);
  EXPECT_THROW(Checkpoint{dir / "nope"}, Error);
}

TEST(Safetensors, Float8E4M3Decodes) {
  // OCP E4M3FN reference values.
  EXPECT_EQ(fp8_e4m3_to_float(0x38), 1.0f);
  EXPECT_EQ(fp8_e4m3_to_float(0xb8), -1.0f);
  EXPECT_EQ(fp8_e4m3_to_float(0x7e), 448.0f);
  EXPECT_EQ(fp8_e4m3_to_float(0x01), 0.001953125f);  // smallest subnormal, 2^-9
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_float(0x7f)));
  TempDir dir;
  ShardedWriter w(dir.path());
  const uint8_t bytes[4] = {0x38, 0xc0, 0x00, 0x7e};
  w.add("f8", DType::kF8E4M3, {2, 2}, bytes, 4);
  w.finish();
  Checkpoint c(dir.path());
  at::Tensor t = to_tensor(c.view("f8")).to(at::kFloat);
  std::vector<float> want = {1.0f, -2.0f, 0.0f, 448.0f};
  EXPECT_TRUE(at::equal(t, at::tensor(want).view({2, 2})));
}

}  // namespace
}  // namespace yz
