// The losses of the two stages: soft distillation of the auxiliary net (stage 1) and
// cross-entropy on soft (mixed, smoothed) targets (stage 2 and the baselines).
#pragma once

#include <ATen/core/Tensor.h>

namespace tleg {

// mean over the batch of -sum_c target_c log softmax(logits)_c.
at::Tensor soft_target_cross_entropy(const at::Tensor& logits, const at::Tensor& targets);

// DeiT's soft distillation: (1-alpha) * CE(student, targets) +
// alpha * tau^2 * KL(softmax(teacher/tau) || softmax(student/tau)), the KL averaged over the
// batch (tleg-method.md §3: the released code also divides by the class count, a constant that
// AdamW makes irrelevant; tleg keeps the batch mean). alpha = 1 means no label term.
at::Tensor distillation_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                             const at::Tensor& targets, double tau, double alpha);

// The same loss when the teacher is given as probabilities softmax(teacher/tau) [B, classes]:
// stored logits, whose soft targets are mixed (Mixup/CutMix) as probabilities because no teacher
// sees the mixed image. Classes of probability 0 add nothing to the KL.
at::Tensor distillation_loss_from_probabilities(const at::Tensor& student_logits,
                                                const at::Tensor& teacher_probabilities,
                                                const at::Tensor& targets, double tau,
                                                double alpha);

}  // namespace tleg
