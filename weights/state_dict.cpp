#include "weights/state_dict.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>

#include "common/error.h"

namespace tleg {
namespace {

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open the file");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// torch.save's zip container (Python's torch.save(model.state_dict()) or tleg export): a pickle
// of a dict (an OrderedDict from Python) of name -> tensor, and one record per storage. LibTorch's
// own unpickler turns an OrderedDict into None, so the pickle is read here by a small machine that
// knows what state dicts use: strings, numbers, tuples, lists, dicts, persistent storage ids and
// torch._utils._rebuild_tensor_v2 / _rebuild_parameter. Anything else becomes an opaque value and
// fails only if it is where a tensor should be.
class StateDictUnpickler {
 public:
  StateDictUnpickler(std::string path) : path_(std::move(path)), reader_(path_) {}

  std::vector<std::pair<std::string, at::Tensor>> read() {
    if (!reader_.hasRecord("data.pkl")) fail(path_, ": no data.pkl record; not a torch.save file");
    auto [data, size] = reader_.getRecord("data.pkl");
    bytes_.assign(static_cast<const char*>(data.get()),
                  static_cast<const char*>(data.get()) + size);
    const ValuePtr root = run();
    if (root->kind != Kind::kDict)
      fail(path_, ": holds no dict of tensors; save it with torch.save(model.state_dict(), path)");
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto& [key, value] : root->items) {
      if (key->kind != Kind::kString || value->kind != Kind::kTensor)
        fail(path_,
             ": an entry of the dict is not name -> tensor; a state dict "
             "(model.state_dict()) is needed");
      tensors.emplace_back(key->text, value->tensor);
    }
    return tensors;
  }

 private:
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kTuple,
    kList,
    kDict,
    kGlobal,
    kStorage,
    kTensor,
    kMark,
    kOpaque
  };
  struct Value;
  using ValuePtr = std::shared_ptr<Value>;
  struct Value {
    Kind kind = Kind::kNone;
    std::int64_t number = 0;
    double real = 0;
    std::string text, text2;  // string; global module and name; storage key
    std::vector<ValuePtr> elements;
    std::vector<std::pair<ValuePtr, ValuePtr>> items;
    at::Tensor tensor;  // storage (flat) or tensor
  };

  static ValuePtr make(Kind kind) {
    auto value = std::make_shared<Value>();
    value->kind = kind;
    return value;
  }
  std::uint64_t take(int bytes) {
    if (position_ + static_cast<std::size_t>(bytes) > bytes_.size())
      fail(path_, ": data.pkl ends early");
    std::uint64_t value = 0;
    for (int i = bytes - 1; i >= 0; --i)
      value = (value << 8) | static_cast<unsigned char>(bytes_[position_ + static_cast<size_t>(i)]);
    position_ += static_cast<std::size_t>(bytes);
    return value;
  }
  std::string take_text(std::size_t length) {
    if (position_ + length > bytes_.size()) fail(path_, ": data.pkl ends early");
    std::string text = bytes_.substr(position_, length);
    position_ += length;
    return text;
  }
  std::string take_line() {
    const std::size_t end = bytes_.find('\n', position_);
    if (end == std::string::npos) fail(path_, ": data.pkl ends early");
    std::string line = bytes_.substr(position_, end - position_);
    position_ = end + 1;
    return line;
  }
  ValuePtr pop() {
    if (stack_.empty()) fail(path_, ": data.pkl is malformed (stack empty)");
    ValuePtr value = stack_.back();
    stack_.pop_back();
    return value;
  }
  std::vector<ValuePtr> pop_to_mark() {
    std::vector<ValuePtr> values;
    while (!stack_.empty() && stack_.back()->kind != Kind::kMark) values.push_back(pop());
    if (stack_.empty()) fail(path_, ": data.pkl is malformed (no mark)");
    stack_.pop_back();
    std::reverse(values.begin(), values.end());
    return values;
  }
  static ValuePtr tuple_of(std::vector<ValuePtr> elements) {
    ValuePtr tuple = make(Kind::kTuple);
    tuple->elements = std::move(elements);
    return tuple;
  }
  std::vector<std::int64_t> ints(const ValuePtr& tuple) {
    std::vector<std::int64_t> values;
    for (const auto& e : tuple->elements) {
      if (e->kind != Kind::kInt) fail(path_, ": a tensor's size or stride is not a tuple of ints");
      values.push_back(e->number);
    }
    return values;
  }

  ValuePtr storage(const ValuePtr& pid) {
    // ('storage', torch.<Type>Storage, key, location, numel)
    if (pid->kind != Kind::kTuple || pid->elements.size() < 5 ||
        pid->elements[1]->kind != Kind::kGlobal)
      fail(path_, ": a persistent id of data.pkl is not a storage");
    static const std::map<std::string, at::ScalarType> types{{"FloatStorage", at::kFloat},
                                                             {"DoubleStorage", at::kDouble},
                                                             {"HalfStorage", at::kHalf},
                                                             {"BFloat16Storage", at::kBFloat16}};
    const std::string& type = pid->elements[1]->text2;
    const auto found = types.find(type);
    if (found == types.end())
      fail(path_, ": storage of type torch.", type, "; floating-point tensors are needed");
    const std::string key = pid->elements[2]->text;
    auto cached = storages_.find(key);
    if (cached == storages_.end()) {
      auto [data, size] = reader_.getRecord("data/" + key);
      at::Tensor flat =
          at::empty({pid->elements[4]->number}, at::TensorOptions().dtype(found->second));
      if (static_cast<std::size_t>(flat.numel() * flat.element_size()) != size)
        fail(path_, ": storage ", key, " holds ", size, " bytes, not ", flat.numel(), " elements");
      std::memcpy(flat.data_ptr(), data.get(), size);
      cached = storages_.emplace(key, flat).first;
    }
    ValuePtr value = make(Kind::kStorage);
    value->tensor = cached->second;
    return value;
  }

  ValuePtr reduce(const ValuePtr& callable, const ValuePtr& args) {
    if (callable->kind != Kind::kGlobal) return make(Kind::kOpaque);
    const std::string name = callable->text + "." + callable->text2;
    if (name == "collections.OrderedDict") return make(Kind::kDict);
    if (name == "torch._utils._rebuild_tensor_v2" && args->elements.size() >= 4 &&
        args->elements[0]->kind == Kind::kStorage) {
      ValuePtr tensor = make(Kind::kTensor);
      tensor->tensor = args->elements[0]
                           ->tensor
                           .as_strided(ints(args->elements[2]), ints(args->elements[3]),
                                       args->elements[1]->number)
                           .clone();
      return tensor;
    }
    if (name == "torch._utils._rebuild_parameter" && !args->elements.empty())
      return args->elements[0];
    return make(Kind::kOpaque);
  }

  ValuePtr run() {
    while (true) {
      if (position_ >= bytes_.size()) fail(path_, ": data.pkl ends before STOP");
      const auto op = static_cast<unsigned char>(bytes_[position_++]);
      switch (op) {
        case 0x80:
          take(1);
          break;  // PROTO
        case 0x95:
          take(8);
          break;  // FRAME
        case '.':
          return pop();  // STOP
        case '(':
          stack_.push_back(make(Kind::kMark));
          break;
        case 'N':
          stack_.push_back(make(Kind::kNone));
          break;
        case 0x88:
        case 0x89: {  // NEWTRUE, NEWFALSE
          ValuePtr b = make(Kind::kBool);
          b->number = op == 0x88;
          stack_.push_back(b);
          break;
        }
        case 'J':
        case 'K':
        case 'M': {  // BININT, BININT1, BININT2
          ValuePtr n = make(Kind::kInt);
          n->number = op == 'J'   ? static_cast<std::int32_t>(take(4))
                      : op == 'K' ? take(1)
                                  : take(2);
          stack_.push_back(n);
          break;
        }
        case 0x8a: {  // LONG1
          const auto length = static_cast<int>(take(1));
          if (length > 8) fail(path_, ": an integer of data.pkl is too long");
          std::uint64_t raw = length ? take(length) : 0;
          if (length > 0 && length < 8 && (raw >> (8 * length - 1)) & 1)
            raw |= ~0ULL << (8 * length);
          ValuePtr n = make(Kind::kInt);
          n->number = static_cast<std::int64_t>(raw);
          stack_.push_back(n);
          break;
        }
        case 'G': {  // BINFLOAT, big-endian
          std::uint64_t raw = 0;
          for (int i = 0; i < 8; ++i) raw = (raw << 8) | take(1);
          ValuePtr f = make(Kind::kFloat);
          std::memcpy(&f->real, &raw, 8);
          stack_.push_back(f);
          break;
        }
        case 'X':
        case 0x8c:
        case 0x8d:
        case 'U':
        case 'T':
        case 'B':
        case 'C': {
          const std::size_t length = op == 0x8c || op == 'U' || op == 'C' ? take(1)
                                     : op == 0x8d                         ? take(8)
                                                                          : take(4);
          ValuePtr text = make(Kind::kString);
          text->text = take_text(length);
          stack_.push_back(text);
          break;
        }
        case 'c': {  // GLOBAL
          ValuePtr global = make(Kind::kGlobal);
          global->text = take_line();
          global->text2 = take_line();
          stack_.push_back(global);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          ValuePtr global = make(Kind::kGlobal);
          global->text2 = pop()->text;
          global->text = pop()->text;
          stack_.push_back(global);
          break;
        }
        case ')':
          stack_.push_back(make(Kind::kTuple));
          break;
        case ']':
          stack_.push_back(make(Kind::kList));
          break;
        case '}':
          stack_.push_back(make(Kind::kDict));
          break;
        case 't':
          stack_.push_back(tuple_of(pop_to_mark()));
          break;
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          std::vector<ValuePtr> elements(op - 0x84);
          for (auto it = elements.rbegin(); it != elements.rend(); ++it) *it = pop();
          stack_.push_back(tuple_of(std::move(elements)));
          break;
        }
        case 'l': {  // LIST
          ValuePtr list = make(Kind::kList);
          list->elements = pop_to_mark();
          stack_.push_back(list);
          break;
        }
        case 'a': {
          ValuePtr v = pop();
          stack_.back()->elements.push_back(v);
          break;
        }
        case 'e': {
          auto values = pop_to_mark();
          if (stack_.empty()) fail(path_, ": data.pkl is malformed (APPENDS)");
          for (auto& v : values) stack_.back()->elements.push_back(v);
          break;
        }
        case 's': {
          ValuePtr value = pop(), key = pop();
          if (stack_.empty()) fail(path_, ": data.pkl is malformed (SETITEM)");
          stack_.back()->items.emplace_back(key, value);
          break;
        }
        case 'u': {
          auto values = pop_to_mark();
          if (stack_.empty() || values.size() % 2)
            fail(path_, ": data.pkl is malformed (SETITEMS)");
          for (std::size_t i = 0; i < values.size(); i += 2)
            stack_.back()->items.emplace_back(values[i], values[i + 1]);
          break;
        }
        case 'q':
          memo_[take(1)] = stack_.back();
          break;  // BINPUT
        case 'r':
          memo_[take(4)] = stack_.back();
          break;  // LONG_BINPUT
        case 0x94:
          memo_[memo_.size()] = stack_.back();
          break;  // MEMOIZE
        case 'h':
        case 'j': {  // BINGET, LONG_BINGET
          const auto found = memo_.find(take(op == 'h' ? 1 : 4));
          if (found == memo_.end()) fail(path_, ": data.pkl is malformed (memo)");
          stack_.push_back(found->second);
          break;
        }
        case 'Q':
          stack_.push_back(storage(pop()));
          break;  // BINPERSID
        case 'R': {
          ValuePtr args = pop(), callable = pop();
          stack_.push_back(reduce(callable, args));
          break;
        }
        case 0x81:
          pop();
          pop();
          stack_.push_back(make(Kind::kOpaque));
          break;  // NEWOBJ
        case 'b':
          pop();
          break;  // BUILD: an OrderedDict's _metadata, not needed
        case '0':
          pop();
          break;
        case '1':
          pop_to_mark();
          break;
        case '2':
          stack_.push_back(stack_.back());
          break;
        default:
          fail(path_, ": data.pkl uses pickle opcode ", static_cast<int>(op),
               ", which a state dict does not need; save it with torch.save(model.state_dict())");
      }
    }
  }

  std::string path_;
  caffe2::serialize::PyTorchStreamReader reader_;
  std::string bytes_;
  std::size_t position_ = 0;
  std::vector<ValuePtr> stack_;
  std::map<std::uint64_t, ValuePtr> memo_;
  std::map<std::string, at::Tensor> storages_;
};

// The floating-point dtypes of the safetensors format, by the format's names: what tleg reads and
// writes. Bytes are little-endian in the file, as in this machine's memory.
static_assert(std::endian::native == std::endian::little,
              "safetensors holds little-endian bytes, copied as they are in memory");
const std::vector<std::pair<std::string, at::ScalarType>>& safetensors_dtypes() {
  static const std::vector<std::pair<std::string, at::ScalarType>> dtypes{
      {"F32", at::kFloat}, {"F64", at::kDouble}, {"F16", at::kHalf}, {"BF16", at::kBFloat16}};
  return dtypes;
}
constexpr const char* kFloatingPointDtypes = "floating point (F32, F64, F16, BF16)";

// The architecture of a timm VisionTransformer state dict from its shapes; checks that every
// block holds exactly the 12 tensors of a plain pre-norm block.
void infer_architecture(WeightsFile& weights, std::int64_t heads) {
  const std::set<std::string> block_names(block_tensor_names().begin(), block_tensor_names().end());
  std::int64_t depth = 0;
  for (const auto& [name, tensor] : weights.tensors) {
    if (name.rfind("blocks.", 0) != 0) continue;
    const std::size_t dot = name.find('.', 7);
    std::int64_t index = -1;
    try {
      index = std::stoll(name.substr(7, dot - 7));
    } catch (const std::exception&) {
    }
    if (dot == std::string::npos || index < 0)
      fail(weights.source, ": tensor '", name, "' is not blocks.<index>.<tensor>");
    if (block_names.count(name.substr(dot + 1)) == 0)
      fail(weights.source, ": tensor '", name,
           "' is not part of a plain ViT block (norm1, attn.qkv, attn.proj, norm2, mlp.fc1, "
           "mlp.fc2; no LayerScale or q/k norms); tleg linearity fits those 12 tensors only");
    depth = std::max(depth, index + 1);
  }
  if (depth == 0)
    fail(weights.source,
         ": no 'blocks.<index>.*' tensors; a timm VisionTransformer state dict is "
         "needed");
  VitConfig& c = weights.config;
  auto shape_of = [&](const std::string& name) -> at::IntArrayRef {
    const at::Tensor* tensor = weights.find(name);
    if (tensor == nullptr) fail(weights.source, ": tensor '", name, "' is missing");
    return tensor->sizes();
  };
  c.depth = depth;
  c.dim = shape_of("blocks.0.norm1.weight")[0];
  const std::int64_t hidden = shape_of("blocks.0.mlp.fc1.weight")[0];
  if (hidden % c.dim != 0)
    fail(weights.source, ": mlp.fc1 has ", hidden, " outputs, not a multiple of dim ", c.dim);
  c.mlp_ratio = hidden / c.dim;
  c.heads = heads;
  if (heads > 0 && c.dim % heads != 0)
    fail(weights.source, ": --heads ", heads, " does not divide the embedding dim ", c.dim);
  if (const at::Tensor* patch = weights.find("patch_embed.proj.weight");
      patch != nullptr && patch->dim() == 4) {
    c.channels = patch->size(1);
    c.patch_size = patch->size(2);
  }
  if (const at::Tensor* pos = weights.find("pos_embed"); pos != nullptr && pos->dim() == 3) {
    const std::int64_t tokens = pos->size(1) - (weights.find("cls_token") ? 1 : 0);
    const auto side = static_cast<std::int64_t>(std::llround(std::sqrt(double(tokens))));
    c.image_size = side * c.patch_size;
  }
  if (const at::Tensor* head = weights.find("head.weight"); head != nullptr)
    c.classes = head->size(0);
}

}  // namespace

std::vector<std::pair<std::string, at::Tensor>> read_torch_state_dict(const std::string& path) {
  try {
    return StateDictUnpickler(path).read();
  } catch (const c10::Error& e) {
    fail(path, ": not a file written by torch.save (", e.what_without_backtrace(),
         "); save it with torch.save(model.state_dict(), path)");
  }
}

std::vector<std::pair<std::string, at::Tensor>> read_safetensors(const std::string& path) {
  const std::vector<char> bytes = read_bytes(path);
  std::uint64_t header_size = 0;
  if (bytes.size() < 8) fail(path, ": too short for a safetensors file");
  for (int i = 7; i >= 0; --i)
    header_size = (header_size << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  if (header_size > bytes.size() - 8) fail(path, ": safetensors header runs past the file's end");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + header_size);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": safetensors header is not JSON (", e.what(), ")");
  }
  const std::size_t data_start = 8 + header_size;
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string dtype = entry.at("dtype").get<std::string>();
    const auto found = std::find_if(safetensors_dtypes().begin(), safetensors_dtypes().end(),
                                    [&](const auto& known) { return known.first == dtype; });
    if (found == safetensors_dtypes().end())
      fail(path, ": tensor '", name, "' has dtype ", dtype, "; ", kFloatingPointDtypes,
           " is needed");
    const auto shape = entry.at("shape").get<std::vector<std::int64_t>>();
    const auto offsets = entry.at("data_offsets").get<std::vector<std::size_t>>();
    at::Tensor tensor = at::empty(shape, at::TensorOptions().dtype(found->second));
    const std::size_t size = tensor.numel() * tensor.element_size();
    if (offsets.size() != 2 || offsets[1] - offsets[0] != size ||
        data_start + offsets[1] > bytes.size())
      fail(path, ": tensor '", name, "' has byte range that does not match its shape");
    std::memcpy(tensor.data_ptr(), bytes.data() + data_start + offsets[0], size);
    tensors.emplace_back(name, tensor);
  }
  // The header is a JSON object, whose order is not the file's; the name order is what a state
  // dict's order would be up to block numbering, which the fit does not depend on.
  std::sort(tensors.begin(), tensors.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return tensors;
}

void write_safetensors(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::string& path,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> data;
  std::size_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__" || header.contains(name))
      fail(path, ": tensor name '", name, "' is given twice or is the reserved __metadata__");
    const auto found =
        std::find_if(safetensors_dtypes().begin(), safetensors_dtypes().end(),
                     [&](const auto& known) { return known.second == tensor.scalar_type(); });
    if (found == safetensors_dtypes().end())
      fail(path, ": tensor '", name, "' is ", tensor.scalar_type(), "; ", kFloatingPointDtypes,
           " is written");
    at::Tensor bytes = tensor.detach().to(at::kCPU).contiguous();
    const auto size = static_cast<std::size_t>(bytes.numel() * bytes.element_size());
    header[name] = {{"dtype", found->first},
                    {"shape", bytes.sizes().vec()},
                    {"data_offsets", nlohmann::json::array({offset, offset + size})}};
    offset += size;
    data.push_back(std::move(bytes));
  }
  std::string text = header.dump();
  // Spaces (which the format allows) so the tensors start 8-byte aligned, as safetensors' own
  // writer pads the header.
  text.append((8 - text.size() % 8) % 8, ' ');
  const std::string temporary = path + ".partial";
  {
    std::ofstream out(temporary, std::ios::binary);
    char length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
    out.write(length, 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const at::Tensor& bytes : data)
      out.write(static_cast<const char*>(bytes.data_ptr()),
                static_cast<std::streamsize>(bytes.numel() * bytes.element_size()));
    if (!out) fail(path, ": cannot write the file");
  }
  std::filesystem::rename(temporary, path);
}

const std::vector<std::string>& block_tensor_names() {
  static const std::vector<std::string> names{
      "norm1.weight",     "norm1.bias",     "attn.qkv.weight", "attn.qkv.bias",
      "attn.proj.weight", "attn.proj.bias", "norm2.weight",    "norm2.bias",
      "mlp.fc1.weight",   "mlp.fc1.bias",   "mlp.fc2.weight",  "mlp.fc2.bias"};
  return names;
}

WeightsFile load_trained_vit(const std::string& path, std::int64_t heads) {
  if (!std::filesystem::exists(path)) fail(path, ": no such file");
  if (ends_with(path, ".h5")) {
    WeightsFile weights = load_weights(path);
    if (weights.kind != "vit")
      fail(path, ": this is a '", weights.kind, "' file; a trained ViT ('vit') is needed",
           weights.kind == "learngene"
               ? " (expand it with tleg expand; its expansions lie on its line by construction)"
               : "");
    return weights;
  }
  WeightsFile weights;
  weights.kind = "vit";
  weights.source = path;
  if (ends_with(path, ".safetensors"))
    weights.tensors = read_safetensors(path);
  else if (ends_with(path, ".pt") || ends_with(path, ".pth") || ends_with(path, ".bin"))
    weights.tensors = read_torch_state_dict(path);
  else
    fail(path,
         ": unknown model format; give a tleg model (.h5), a torch.save state dict (.pt, "
         ".pth, .bin) or a .safetensors file");
  weights.metadata["format"] = ends_with(path, ".safetensors") ? "safetensors" : "torch.save";
  infer_architecture(weights, heads);
  return weights;
}

}  // namespace tleg
