#include "train/losses.h"

#include <ATen/ATen.h>

#include "common/error.h"

namespace tleg {
namespace {

// tau^2 * alpha * KL(rows of `kl_terms` summed, then reduced) + (1 - alpha) * CE.
at::Tensor combine(const at::Tensor& kl_terms, const at::Tensor& student_logits,
                   const at::Tensor& targets, double tau, double alpha, KlReduction reduction) {
  const double count =
      static_cast<double>(reduction == KlReduction::kMean ? kl_terms.numel() : kl_terms.size(0));
  at::Tensor loss = kl_terms.sum() * (alpha * tau * tau / count);
  if (alpha < 1.0) loss = loss + soft_target_cross_entropy(student_logits, targets) * (1.0 - alpha);
  return loss;
}

}  // namespace

at::Tensor soft_target_cross_entropy(const at::Tensor& logits, const at::Tensor& targets) {
  return -(targets * at::log_softmax(logits, -1)).sum(-1).mean();
}

std::string kl_reduction_name(KlReduction reduction) {
  return reduction == KlReduction::kMean ? "mean" : "batchmean";
}

KlReduction parse_kl_reduction(const std::string& name) {
  if (name == "mean") return KlReduction::kMean;
  if (name == "batchmean") return KlReduction::kBatchMean;
  fail("distill.kl-reduction must be mean or batchmean, got '", name, "'");
}

at::Tensor distillation_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                             const at::Tensor& targets, double tau, double alpha,
                             KlReduction reduction) {
  const at::Tensor student = at::log_softmax(student_logits / tau, -1);
  const at::Tensor teacher =
      at::log_softmax(teacher_logits.to(student_logits.scalar_type()) / tau, -1);
  // KL(p_t || p_s) = sum p_t (log p_t - log p_s), with the teacher constant.
  return combine(teacher.exp() * (teacher - student), student_logits, targets, tau, alpha,
                 reduction);
}

at::Tensor distillation_loss_from_probabilities(const at::Tensor& student_logits,
                                                const at::Tensor& teacher_probabilities,
                                                const at::Tensor& targets, double tau, double alpha,
                                                KlReduction reduction) {
  const at::Tensor student = at::log_softmax(student_logits / tau, -1);
  const at::Tensor p = teacher_probabilities.to(student_logits.scalar_type());
  // xlogy(0, 0) = 0: top-k targets have exact zeros, where p log p would give NaN.
  return combine(at::xlogy(p, p) - p * student, student_logits, targets, tau, alpha, reduction);
}

}  // namespace tleg
