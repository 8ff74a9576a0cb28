#include "train/losses.h"

#include <ATen/ATen.h>

namespace tleg {

at::Tensor soft_target_cross_entropy(const at::Tensor& logits, const at::Tensor& targets) {
  return -(targets * at::log_softmax(logits, -1)).sum(-1).mean();
}

at::Tensor distillation_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                             const at::Tensor& targets, double tau, double alpha) {
  const at::Tensor student = at::log_softmax(student_logits / tau, -1);
  const at::Tensor teacher =
      at::log_softmax(teacher_logits.to(student_logits.scalar_type()) / tau, -1);
  // KL(p_t || p_s) = sum p_t (log p_t - log p_s), with the teacher constant.
  const at::Tensor kl = (teacher.exp() * (teacher - student)).sum(-1).mean();
  at::Tensor loss = kl * (alpha * tau * tau);
  if (alpha < 1.0) loss = loss + soft_target_cross_entropy(student_logits, targets) * (1.0 - alpha);
  return loss;
}

at::Tensor distillation_loss_from_probabilities(const at::Tensor& student_logits,
                                                const at::Tensor& teacher_probabilities,
                                                const at::Tensor& targets, double tau,
                                                double alpha) {
  const at::Tensor student = at::log_softmax(student_logits / tau, -1);
  const at::Tensor p = teacher_probabilities.to(student_logits.scalar_type());
  // xlogy(0, 0) = 0: top-k targets have exact zeros, where p log p would give NaN.
  const at::Tensor kl = (at::xlogy(p, p) - p * student).sum(-1).mean();
  at::Tensor loss = kl * (alpha * tau * tau);
  if (alpha < 1.0) loss = loss + soft_target_cross_entropy(student_logits, targets) * (1.0 - alpha);
  return loss;
}

}  // namespace tleg
