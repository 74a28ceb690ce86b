// Few-shot prompts and the context/continuation split (see prompt.h).
#include "eval/prompt.h"

#include "eval/formats.h"
#include "util/error.h"

namespace yz {

ShotPicker::ShotPicker(const Task& task, int64_t k, uint64_t seed)
    : task_(task),
      k_(task.sampler == ShotSampler::kNone || task.shots.empty() ? 0 : k),
      rnd_(seed) {
  YZ_CHECK(k >= 0, "--shots must be >= 0");
  if (task.sampler == ShotSampler::kRandom)
    YZ_CHECK(k_ <= static_cast<int64_t>(task.shots.size()), "task ", task.name, ": ", k_,
             " shots asked for, its few-shot pool holds ", task.shots.size());
}

std::vector<const Doc*> ShotPicker::next(const Doc& doc) {
  std::vector<const Doc*> out;
  if (k_ == 0) return out;
  if (task_.sampler == ShotSampler::kRandom) {
    // ContextSampler.sample: self.rnd.sample(self.fewshot_docs(), n)
    for (int64_t i : rnd_.sample(static_cast<int64_t>(task_.shots.size()), k_))
      out.push_back(&task_.shots[i]);
    return out;
  }
  // FirstNSampler.sample: pool[:n] of the document's own subject (C-Eval: one task per subject)
  for (const Doc& s : task_.shots)
    if (s.group == doc.group && static_cast<int64_t>(out.size()) < k_) out.push_back(&s);
  YZ_CHECK(static_cast<int64_t>(out.size()) == k_, "task ", task_.name, ": ", k_,
           " shots asked for, group '", doc.group, "' has ", out.size(), " dev examples");
  return out;
}

std::string fewshot_context(const Task& task, const Doc& doc,
                            const std::vector<const Doc*>& shots) {
  std::string out = doc.description;
  for (const Doc* s : shots)
    out += s->text + task.target_delimiter + s->answer() + task.fewshot_delimiter;
  return out + doc.text;
}

std::pair<std::vector<int32_t>, std::vector<int32_t>> encode_pair(const tok::Tokenizer& tokenizer,
                                                                  std::string context,
                                                                  std::string continuation,
                                                                  int32_t prefix_id) {
  if (context.empty()) {
    // LM.loglikelihood: ([prefix_token_id], cont) unless cont already starts with it.
    std::vector<int32_t> cont = tokenizer.encode(continuation, /*add_special_tokens=*/false);
    YZ_CHECK(!cont.empty(), "empty continuation");
    if (cont.front() == prefix_id) return {{cont.front()}, {cont.begin() + 1, cont.end()}};
    return {{prefix_id}, cont};
  }
  const size_t spaces = trailing_space_bytes(context);
  continuation = context.substr(context.size() - spaces) + continuation;
  context.resize(context.size() - spaces);
  std::vector<int32_t> whole = tokenizer.encode(context + continuation);
  std::vector<int32_t> ctx = tokenizer.encode(context);
  YZ_CHECK(whole.size() > ctx.size(), "the continuation '", continuation,
           "' adds no token after its context (its tokens merge into the context's)");
  return {ctx, std::vector<int32_t>(whole.begin() + static_cast<int64_t>(ctx.size()), whole.end())};
}

std::vector<int32_t> generation_prompt(const tok::Tokenizer& tokenizer, const std::string& context) {
  const size_t keep = context.size() - trailing_space_bytes(context);
  return tokenizer.encode(keep > 0 ? context.substr(0, keep) : context);
}

}  // namespace yz
