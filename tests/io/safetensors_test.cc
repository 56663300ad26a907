// SafetensorsFile: real files written to a temp dir, then corrupted one way per test. Every
// failure must be a Status whose message names the file (and the tensor when there is one).
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "io_test_util.h"

namespace dsv4 {
namespace {

using testing::SafetensorsImage;
using testing::TempDir;
using testing::WriteFile;

constexpr StatusCode kDataLoss = StatusCode::kDataLoss;

// Opens a file holding exactly `image` under the name `name`.
Status OpenImage(const TempDir& dir, const std::string& name, const std::string& image) {
  WriteFile(dir / name, image);
  return SafetensorsFile::Open(dir / name).status();
}

const char kGoodHeader[] = R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                           R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[16,24]}})";

TEST(Safetensors, WriteThenOpenRoundTrips) {
  TempDir dir;
  const float a[4] = {1, 2, 3, 4};
  const uint16_t b[3] = {0x3f80, 0x4000, 0x4040};
  ASSERT_TRUE(WriteSafetensors(dir / "x.safetensors",
                               {{"a", DType::kF32, {2, 2}, a, sizeof(a)},
                                {"b", DType::kBF16, {3}, b, sizeof(b)},
                                {"empty", DType::kI64, {0, 6}, nullptr, 0}},
                               {{"format", "pt"}})
                  .ok());
  auto file = SafetensorsFile::Open(dir / "x.safetensors");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  const auto& t = (*file)->tensors();
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t.at("a").dtype, DType::kF32);
  EXPECT_EQ(t.at("a").ShapeString(), "[2, 2]");
  EXPECT_EQ(t.at("a").numel(), 4);
  EXPECT_EQ(std::memcmp(t.at("a").data, a, sizeof(a)), 0);
  EXPECT_EQ(std::memcmp(t.at("b").data, b, sizeof(b)), 0);
  EXPECT_EQ(t.at("empty").nbytes, 0u);
  EXPECT_EQ(t.at("b").file, dir / "x.safetensors");
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
}

// The official writer pads the JSON header with spaces to a multiple of 8 bytes.
TEST(Safetensors, WriterPadsHeaderWithSpaces) {
  TempDir dir;
  const uint8_t x[3] = {1, 2, 3};
  ASSERT_TRUE(WriteSafetensors(dir / "p.safetensors", {{"x", DType::kU8, {3}, x, 3}}).ok());
  const std::string bytes = testing::ReadFile(dir / "p.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + 3);
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}'));
}

TEST(Safetensors, MissingFileIsNotFound) {
  TempDir dir;
  DSV4_EXPECT_ERROR(SafetensorsFile::Open(dir / "nope.safetensors").status(), StatusCode::kNotFound,
                    "nope.safetensors");
}

TEST(Safetensors, FileShorterThanLengthPrefix) {
  TempDir dir;
  DSV4_EXPECT_ERROR(OpenImage(dir, "short.safetensors", "abc"), kDataLoss, "short.safetensors");
  DSV4_EXPECT_ERROR(OpenImage(dir, "empty.safetensors", ""), kDataLoss, "empty.safetensors");
}

TEST(Safetensors, HeaderLengthBeyondFile) {
  TempDir dir;
  std::string image = SafetensorsImage(kGoodHeader, std::string(24, '\0'));
  image[0] = static_cast<char>(0xf0);  // header claims far more bytes than the file holds
  image[1] = static_cast<char>(0x7f);
  DSV4_EXPECT_ERROR(OpenImage(dir, "long.safetensors", image), kDataLoss, "long.safetensors");
  const Status st = SafetensorsFile::Open(dir / "long.safetensors").status();
  EXPECT_NE(st.message().find("past the end"), std::string::npos) << st.message();
}

TEST(Safetensors, AbsurdHeaderLength) {
  TempDir dir;
  std::string image = SafetensorsImage(kGoodHeader, "");
  std::memset(image.data(), 0xff, 8);  // 2^64 - 1
  DSV4_EXPECT_ERROR(OpenImage(dir, "huge.safetensors", image), kDataLoss, "100 MB limit");
}

TEST(Safetensors, TruncatedDataSection) {
  TempDir dir;
  // The header is intact but the file stops 8 bytes into tensor b.
  const std::string image = SafetensorsImage(kGoodHeader, std::string(20, '\0'));
  const Status st = OpenImage(dir, "cut.safetensors", image);
  DSV4_EXPECT_ERROR(st, kDataLoss, "cut.safetensors: tensor 'b': data_offsets [16, 24]");
  EXPECT_NE(st.message().find("exceed the data section (20 bytes)"), std::string::npos);
}

TEST(Safetensors, MalformedJson) {
  TempDir dir;
  DSV4_EXPECT_ERROR(OpenImage(dir, "bad.safetensors", SafetensorsImage("{\"a\": {", "")), kDataLoss,
                    "bad.safetensors: the safetensors header is not valid JSON");
}

TEST(Safetensors, HeaderNotAnObject) {
  TempDir dir;
  DSV4_EXPECT_ERROR(OpenImage(dir, "arr.safetensors", SafetensorsImage("[1, 2]", "")), kDataLoss,
                    "arr.safetensors: the safetensors header is a JSON array");
}

TEST(Safetensors, EntryMissingField) {
  TempDir dir;
  const std::string h = R"({"w":{"dtype":"F32","shape":[1]}})";
  DSV4_EXPECT_ERROR(OpenImage(dir, "m.safetensors", SafetensorsImage(h, "0000")), kDataLoss,
                    "m.safetensors: tensor 'w': header entry has no 'data_offsets'");
}

TEST(Safetensors, EntryWrongJsonTypes) {
  TempDir dir;
  const std::string shape_str = R"({"w":{"dtype":"F32","shape":"[1]","data_offsets":[0,4]}})";
  DSV4_EXPECT_ERROR(OpenImage(dir, "t1.safetensors", SafetensorsImage(shape_str, "0000")),
                    kDataLoss, "tensor 'w': 'shape' is a JSON string");
  const std::string dtype_num = R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})";
  DSV4_EXPECT_ERROR(OpenImage(dir, "t2.safetensors", SafetensorsImage(dtype_num, "0000")),
                    kDataLoss, "tensor 'w': 'dtype' is a JSON number");
  const std::string float_off = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4.5]}})";
  DSV4_EXPECT_ERROR(OpenImage(dir, "t3.safetensors", SafetensorsImage(float_off, "0000")),
                    kDataLoss, "tensor 'w': 'data_offsets'");
  DSV4_EXPECT_ERROR(OpenImage(dir, "t4.safetensors", SafetensorsImage(R"({"w": 3})", "")),
                    kDataLoss, "t4.safetensors: tensor 'w': header entry is a JSON number");
}

TEST(Safetensors, UnknownDtype) {
  TempDir dir;
  const std::string h = R"({"w":{"dtype":"F4_E2M1","shape":[2],"data_offsets":[0,1]}})";
  DSV4_EXPECT_ERROR(OpenImage(dir, "d.safetensors", SafetensorsImage(h, "0")), kDataLoss,
                    "d.safetensors: tensor 'w': unknown dtype 'F4_E2M1'");
}

TEST(Safetensors, NegativeDimension) {
  TempDir dir;
  const std::string h = R"({"w":{"dtype":"U8","shape":[-1, 4],"data_offsets":[0,4]}})";
  DSV4_EXPECT_ERROR(OpenImage(dir, "neg.safetensors", SafetensorsImage(h, "0000")), kDataLoss,
                    "neg.safetensors: tensor 'w': shape [-1,4]");
}

TEST(Safetensors, ShapeOverflow) {
  TempDir dir;
  const std::string h =
      R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})";
  DSV4_EXPECT_ERROR(OpenImage(dir, "ovf.safetensors", SafetensorsImage(h, "00000000")), kDataLoss,
                    "tensor 'w': shape [4294967296,4294967296] overflows 64 bits");
}

TEST(Safetensors, SizeMismatch) {
  TempDir dir;
  // F32 [3] needs 12 bytes; the offsets give 8.
  const std::string h = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})";
  DSV4_EXPECT_ERROR(OpenImage(dir, "size.safetensors", SafetensorsImage(h, std::string(12, 'x'))),
                    kDataLoss,
                    "size.safetensors: tensor 'w': data_offsets [0, 8] hold 8 bytes, "
                    "but F32 [3] needs 12");
}

TEST(Safetensors, EndBeforeBegin) {
  TempDir dir;
  const std::string h = R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})";
  DSV4_EXPECT_ERROR(OpenImage(dir, "rev.safetensors", SafetensorsImage(h, "0000")), kDataLoss,
                    "tensor 'w': data_offsets [4, 0] end before begin");
}

TEST(Safetensors, OverlappingOffsets) {
  TempDir dir;
  const std::string h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  const Status st = OpenImage(dir, "ovl.safetensors", SafetensorsImage(h, std::string(12, 'x')));
  DSV4_EXPECT_ERROR(st, kDataLoss, "ovl.safetensors: tensor 'b': data_offsets [4, 12] overlap");
  EXPECT_NE(st.message().find("tensor 'a' [0, 8]"), std::string::npos) << st.message();
}

TEST(Safetensors, DuplicateTensorName) {
  TempDir dir;
  const std::string h = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                        R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
  DSV4_EXPECT_ERROR(OpenImage(dir, "dup.safetensors", SafetensorsImage(h, "xy")), kDataLoss,
                    "dup.safetensors: tensor 'a' appears twice");
}

TEST(Safetensors, MetadataMustBeStrings) {
  TempDir dir;
  const std::string h = R"({"__metadata__":{"format":"pt","step":3}})";
  DSV4_EXPECT_ERROR(OpenImage(dir, "meta.safetensors", SafetensorsImage(h, "")), kDataLoss,
                    "meta.safetensors: '__metadata__' entry 'step' is a JSON number");
  const std::string ok = R"({"__metadata__":{"format":"pt"}})";
  WriteFile(dir / "meta_ok.safetensors", SafetensorsImage(ok, ""));
  auto file = SafetensorsFile::Open(dir / "meta_ok.safetensors");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_TRUE((*file)->tensors().empty());
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
}

// ParseHeader on memory (the fuzz target's entry point) agrees with Open and never reads past
// `size`: every prefix of a valid image is rejected or parsed without touching later bytes.
TEST(Safetensors, ParseHeaderOnEveryPrefix) {
  const std::string image = SafetensorsImage(kGoodHeader, std::string(24, '\0'));
  for (size_t n = 0; n <= image.size(); ++n) {
    std::vector<uint8_t> copy(image.begin(), image.begin() + static_cast<std::ptrdiff_t>(n));
    auto r = SafetensorsFile::ParseHeader(copy.data(), copy.size(), "mem");
    EXPECT_EQ(r.ok(), n == image.size()) << n;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("mem"), std::string::npos);
    }
  }
}

TEST(Safetensors, WriterRejectsSizeMismatch) {
  TempDir dir;
  const float x[2] = {0, 0};
  DSV4_EXPECT_ERROR(WriteSafetensors(dir / "w.safetensors", {{"x", DType::kF32, {3}, x, 8}}),
                    StatusCode::kInvalidArgument, "tensor 'x'");
}

}  // namespace
}  // namespace dsv4
