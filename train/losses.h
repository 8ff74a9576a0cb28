// The losses of the two stages: soft distillation of the auxiliary net (stage 1) and
// cross-entropy on soft (mixed, smoothed) targets (stage 2 and the baselines).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace tleg {

// mean over the batch of -sum_c target_c log softmax(logits)_c.
at::Tensor soft_target_cross_entropy(const at::Tensor& logits, const at::Tensor& targets);

// How the summed KL of a batch is averaged, in PyTorch's kl_div terms.
enum class KlReduction {
  kMean,       // over batch x classes: DeiT's losses.py (sum / outputs.numel()), the default
  kBatchMean,  // over the batch: the KL per image, C times larger (tleg's earlier choice)
};

// "mean" or "batchmean", and back; throws tleg::Error naming the value and the choices.
std::string kl_reduction_name(KlReduction reduction);
KlReduction parse_kl_reduction(const std::string& name);

// DeiT's soft distillation: (1-alpha) * CE(student, targets) +
// alpha * tau^2 * KL(softmax(teacher/tau) || softmax(student/tau)) reduced by `reduction`.
// alpha = 1 means no label term.
at::Tensor distillation_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                             const at::Tensor& targets, double tau, double alpha,
                             KlReduction reduction = KlReduction::kMean);

// The same loss when the teacher is given as probabilities softmax(teacher/tau) [B, classes]:
// stored logits, whose soft targets are mixed (Mixup/CutMix) as probabilities because no teacher
// sees the mixed image. Classes of probability 0 add nothing to the KL.
at::Tensor distillation_loss_from_probabilities(const at::Tensor& student_logits,
                                                const at::Tensor& teacher_probabilities,
                                                const at::Tensor& targets, double tau, double alpha,
                                                KlReduction reduction = KlReduction::kMean);

}  // namespace tleg
