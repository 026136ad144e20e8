"""The rollout policy of an iterative model-based agent: a direct policy distilled from the iterative one."""

import torch as th


def distillation_kl(mu_iter: th.Tensor, log_std_iter: th.Tensor, mu_direct: th.Tensor, log_std_direct: th.Tensor) -> th.Tensor:
    """KL(π_iter ‖ π_direct) per state [B], in closed form between the pre-tanh diagonal Gaussians.

    tanh is the same bijection on both sides, so the KL of the squashed distributions is that of the
    Gaussians. π_iter (λ_K of the iterative optimizer) is the target: pass it detached.
    """
    variance_ratio = th.exp(2 * (log_std_iter - log_std_direct))
    mean_term = ((mu_iter - mu_direct) * th.exp(-log_std_direct)).pow(2)
    return 0.5 * (variance_ratio + mean_term - 1).sum(dim=-1) + (log_std_direct - log_std_iter).sum(dim=-1)
