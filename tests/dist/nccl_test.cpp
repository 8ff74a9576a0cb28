// The NCCL backend on a GPU, world of one (the device checks run it; without a GPU every test
// is skipped): collectives on CUDA tensors, split, ordering after LibTorch's current stream, and
// the GradientReducer on a CUDA model.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "dist/gradient_reducer.h"
#include "model/vit.h"
#include "tests/dist/test_world.h"

namespace tleg::dist {
namespace {

using testing::kTestOptions;
using testing::world;

class Nccl : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU on this machine";
    comm_ = make_communicator(world(), world().device(), kTestOptions);
  }
  at::TensorOptions cuda() const { return at::TensorOptions().device(world().device()); }
  std::unique_ptr<Communicator> comm_;
};

TEST_F(Nccl, PicksNcclForTheGpu) {
  EXPECT_EQ(comm_->backend(), "nccl");
  EXPECT_TRUE(world().device().is_cuda());
  EXPECT_EQ(comm_->size(), world().size());
}

TEST_F(Nccl, AllReduceBroadcastAllGather) {
  // Computed on the current stream just before the collective: the backend's stream must wait.
  at::Tensor x = at::arange(1 << 20, cuda().dtype(at::kFloat)).mul_(2);
  const at::Tensor expected = x.clone();
  comm_->all_reduce(x, ReduceOp::Sum);
  EXPECT_TRUE(x.equal(expected * world().size()));
  comm_->all_reduce(x, ReduceOp::Average);
  EXPECT_TRUE(x.equal(expected * world().size()));
  at::Tensor y = at::full({7}, 3.0, cuda().dtype(at::kDouble));
  auto pending = comm_->all_reduce_async(y, ReduceOp::Sum);
  pending->wait();
  EXPECT_DOUBLE_EQ(y.sum().item<double>(), 21.0 * world().size());
  at::Tensor b = at::full({5}, static_cast<double>(world().rank()), cuda());
  comm_->broadcast(b, 0);
  EXPECT_EQ(b.sum().item<float>(), 0.0f);
  const at::Tensor gathered = comm_->all_gather(at::ones({2, 3}, cuda()));
  EXPECT_EQ(gathered.sizes(), (std::vector<std::int64_t>{world().size(), 2, 3}));
  comm_->barrier();
}

TEST_F(Nccl, SplitGivesAWorkingNcclCommunicator) {
  auto sub = comm_->split(world().rank() % 2, world().rank());
  EXPECT_EQ(sub->backend(), "nccl");
  at::Tensor x = at::ones({3}, cuda());
  sub->all_reduce(x);
  EXPECT_EQ(x.sum().item<float>(), 3.0f * sub->size());
}

TEST_F(Nccl, GradientReducerOnACudaModel) {
  VitConfig config{.image_size = 16,
                   .patch_size = 4,
                   .channels = 3,
                   .classes = 10,
                   .dim = 48,
                   .heads = 3,
                   .depth = 4};
  AuxViT model(config);
  initialise(model, 3);
  model.to(world().device());
  GradientReducer reducer(model.parameters(), *comm_, {.bucket_bytes = 64 * 1024});
  reducer.broadcast_parameters(0);
  const at::Tensor images = at::randn({8, 3, 16, 16}, cuda());
  model.forward(images).square().mean().backward();
  std::vector<at::Tensor> local;
  for (const auto& p : model.parameters()) local.push_back(p.grad().clone());
  reducer.finish();
  std::size_t i = 0;
  for (const auto& p : model.parameters()) {
    // World of one: the average is the rank's own gradient.
    EXPECT_TRUE(p.grad().allclose(local[i++] * 1.0, 1e-6, 1e-7));
  }
  EXPECT_EQ(reducer.bytes_reduced_last_step(), learngene_parameter_count(config) * 4);
  EXPECT_GT(reducer.buckets().size(), 1u);
}

}  // namespace
}  // namespace tleg::dist
