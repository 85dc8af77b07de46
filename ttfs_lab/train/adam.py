"""Adam and StepLR of our own, bit for bit those of torch.optim, without building one of its optimizers.

Why: in torch 2.13 the first ``torch.optim.Optimizer`` built in a process imports torch._dynamo
and sympy -- about 1.4 s of CPU and ~68 MB in every dashboard kernel -- for an update that is
five tensor operations. These classes do those operations, in the order and with the Python
scalars torch's default CPU path (``_single_tensor_adam``: no foreach, no fused, not
capturable) uses, so training gives the same bits (tests/test_adam.py runs both side by side).

Adam, for every parameter p with a gradient g, at its step t = 1, 2, ... (per parameter; t is
kept as a 0-d float32 tensor, as torch keeps it):

    m <- m + (1 - beta1) (g - m)                    exp_avg.lerp_(g, 1 - beta1)
    v <- beta2 v + (1 - beta2) g^2                  exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    c1 = 1 - beta1^t,  c2 = 1 - beta2^t             Python floats
    p <- p - (lr / c1) m / (sqrt(v) / c2^0.5 + eps) p.addcdiv_(m, (v.sqrt() / c2 ** 0.5).add_(eps), value=-lr / c1)

A parameter without a gradient (``p.grad is None``) is left alone and gets no state, as in
torch. Each parameter group has its own lr (the weights' lr and the delays' delay_lr,
ttfs_lab.delays.parameter_groups); betas and eps are shared defaults unless a group sets them.
Only plain Adam: no weight decay, amsgrad or maximize (the project never used them).

StepLR, called once per epoch: with e the number of epochs completed,

    lr <- lr * gamma      whenever e is a multiple of step_size,

multiplied into the group's current lr as torch does (not lr0 * gamma^k, which rounds
differently), so the learning rate after k decays is the same float.

state_dict() / load_state_dict() use torch's formats, key for key: checkpoints written with
torch.optim (before this module) load here, and the ones written here load into torch.optim.
"""
from __future__ import annotations

import math
import numbers
from collections import defaultdict

import torch

# What torch.optim.Adam writes into each parameter group besides lr, betas, eps: the values of
# its default (and here: only) variant. A saved group with other values is refused on load.
_TORCH_GROUP_FLAGS = {
    "weight_decay": 0, "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
    "differentiable": False, "fused": None, "decoupled_weight_decay": False,
}


def scalar_dtype() -> torch.dtype:
    """The step counter's dtype, as torch.optim picks it: float64 under a float64 default dtype, else float32."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _check_hyper(lr, betas, eps):
    if not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and math.isfinite(lr) and lr >= 0):
        raise ValueError(f"Adam: lr must be a finite number >= 0, got {lr!r}")
    if not (isinstance(eps, (int, float)) and not isinstance(eps, bool) and math.isfinite(eps) and eps >= 0):
        raise ValueError(f"Adam: eps must be a finite number >= 0, got {eps!r}")
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2
            and all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0.0 <= b < 1.0 for b in betas)):
        raise ValueError(f"Adam: betas must be two numbers in [0, 1), got {betas!r}")


class Adam:
    """Adam (module doc) over ``params``: tensors, or dicts {"params": [...], "lr": ...} (groups).

    Same attributes as torch.optim.Adam where the trainer and the fused kernel read them:
    ``param_groups`` (dicts with "params", "lr", "betas", "eps", ...), ``state[p]`` (dicts with
    "step" (0-d, scalar_dtype()), "exp_avg", "exp_avg_sq"), ``zero_grad``, ``step``,
    ``register_step_post_hook``, ``state_dict`` and ``load_state_dict``.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        _check_hyper(lr, betas, eps)
        self.defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, **_TORCH_GROUP_FLAGS}
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        self._post_hooks = []
        params = list(params)
        if not params:
            raise ValueError("Adam got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        seen = set()
        for group in groups:
            if not isinstance(group, dict) or "params" not in group:
                raise TypeError("Adam: parameter groups must all be dicts with a 'params' entry")
            unknown = set(group) - {"params", "lr", "betas", "eps"}
            if unknown:
                raise ValueError(f"Adam: unsupported parameter-group options {sorted(unknown)} (plain Adam only)")
            group = {**self.defaults, **group}
            members = group["params"]
            group["params"] = [members] if isinstance(members, torch.Tensor) else list(members)
            _check_hyper(group["lr"], group["betas"], group["eps"])
            group["betas"] = tuple(group["betas"])
            for p in group["params"]:
                if not isinstance(p, torch.Tensor) or not p.is_leaf or not p.is_floating_point():
                    raise TypeError("Adam optimizes floating-point leaf tensors only")
                if id(p) in seen:
                    raise ValueError("Adam: a parameter appears in more than one group")
                seen.add(id(p))
            self.param_groups.append(group)

    # ---------------------------------------------------------------- stepping
    def zero_grad(self, set_to_none: bool = True):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.detach_()
                    p.grad.zero_()

    def register_step_post_hook(self, hook):
        """``hook(optimizer, args, kwargs)`` after every step(), as torch calls it."""
        self._post_hooks.append(hook)

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if grad.is_sparse:
                    raise RuntimeError("Adam does not support sparse gradients")
                state = self.state[p]
                if not state:  # lazy, as torch: the step counter is a CPU scalar tensor
                    state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                exp_avg, exp_avg_sq, step_t = state["exp_avg"], state["exp_avg_sq"], state["step"]
                step_t += 1
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step = step_t.item()
                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                step_size = lr / bias_correction1
                bias_correction2_sqrt = bias_correction2 ** 0.5
                denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
                p.addcdiv_(exp_avg, denom, value=-step_size)
        for hook in self._post_hooks:
            hook(self, (), {})

    # ---------------------------------------------------------------- state
    def _parameters(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict:
        """torch.optim's format: {"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]},
        indices counting the parameters through the groups in order. The tensors are the live ones."""
        index = {id(p): i for i, p in enumerate(self._parameters())}
        groups = []
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = [index[id(p)] for p in group["params"]]
            groups.append(saved)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict):
        """Load a state_dict() of this class or of torch.optim.Adam (same format). The moments
        are copied (in each parameter's dtype), so the dict given is never changed by training."""
        if not isinstance(state_dict, dict) or not isinstance(state_dict.get("param_groups"), list) \
                or not isinstance(state_dict.get("state"), dict):
            raise ValueError("optimizer state must be a dict with 'state' (dict) and 'param_groups' (list)")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"optimizer state has {len(saved_groups)} parameter groups, "
                             f"this optimizer {len(self.param_groups)}")
        params = self._parameters()
        new_groups = []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if not isinstance(saved, dict) or not isinstance(saved.get("params"), list):
                raise ValueError(f"optimizer parameter group {i} must be a dict with a 'params' list")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"optimizer parameter group {i} holds {len(saved['params'])} parameters, "
                                 f"this optimizer's {len(group['params'])}")
            for key, default in _TORCH_GROUP_FLAGS.items():
                if key in saved and saved[key] != default:
                    raise ValueError(f"optimizer parameter group {i} uses {key}={saved[key]!r}; "
                                     "ttfs_lab's Adam is plain Adam only")
            loaded = {**group, **{k: v for k, v in saved.items() if k != "params"}, "params": group["params"]}
            try:
                _check_hyper(loaded["lr"], loaded["betas"], loaded["eps"])
            except ValueError as error:
                raise ValueError(f"optimizer parameter group {i}: {error}") from None
            loaded["betas"] = tuple(loaded["betas"])
            if "initial_lr" in loaded:
                _check_hyper(loaded["initial_lr"], loaded["betas"], loaded["eps"])
            new_groups.append(loaded)
        # saved index -> parameter, through the groups in order (as torch maps them)
        by_index = {}
        for saved, group in zip(saved_groups, self.param_groups):
            for index, p in zip(saved["params"], group["params"]):
                if isinstance(index, bool) or not isinstance(index, int) or index in by_index:
                    raise ValueError(f"optimizer parameter indices must be distinct integers, got {index!r}")
                by_index[index] = p
        state = defaultdict(dict)
        for index, entry in state_dict["state"].items():
            if index not in by_index:
                raise ValueError(f"optimizer state for parameter {index!r}, which no group holds")
            state[by_index[index]] = self._loaded_entry(entry, by_index[index], index)
        self.param_groups = new_groups
        self.state = state

    @staticmethod
    def _loaded_entry(entry, p: torch.Tensor, index) -> dict:
        if not isinstance(entry, dict) or not {"step", "exp_avg", "exp_avg_sq"} <= set(entry):
            raise ValueError(f"optimizer state of parameter {index} needs 'step', 'exp_avg' and 'exp_avg_sq'")
        extra = set(entry) - {"step", "exp_avg", "exp_avg_sq"}
        if extra:
            raise ValueError(f"optimizer state of parameter {index} has {sorted(extra)}: not plain Adam")
        step = entry["step"]
        if isinstance(step, torch.Tensor):
            if step.numel() != 1:
                raise ValueError(f"optimizer step of parameter {index} must be one number")
            step = step.item()
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not (step >= 0 and step == int(step)):
            raise ValueError(f"optimizer step of parameter {index} must be a whole number >= 0, got {step!r}")
        loaded = {"step": torch.tensor(float(step), dtype=scalar_dtype())}
        for key in ("exp_avg", "exp_avg_sq"):
            value = entry[key]
            if not isinstance(value, torch.Tensor) or value.shape != p.shape or not value.is_floating_point():
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(f"optimizer {key} of parameter {index} must be a float tensor of shape "
                                 f"{tuple(p.shape)}, got {shape}")
            loaded[key] = value.detach().to(dtype=p.dtype, device=p.device, copy=True,
                                            memory_format=torch.preserve_format)
        return loaded


class StepLR:
    """Multiply every group's lr by ``gamma`` after each ``step_size`` calls of step() (module doc).

    Built, it marks each group's starting lr as "initial_lr" and counts as having stepped
    once (last_epoch = 0), as torch's schedulers do; state_dict() is torch's StepLR's.
    """

    def __init__(self, optimizer: Adam, step_size: int, gamma: float = 0.1):
        if isinstance(step_size, bool) or not isinstance(step_size, numbers.Integral) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a whole number >= 1, got {step_size!r}")
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not math.isfinite(gamma) or gamma < 0:
            raise ValueError(f"StepLR: gamma must be a finite number >= 0, got {gamma!r}")
        self.optimizer = optimizer
        self.step_size = int(step_size)
        self.gamma = gamma
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self._step_count = 0
        self.step()

    def step(self):
        self._step_count += 1
        self.last_epoch += 1
        if self.last_epoch != 0 and self.last_epoch % self.step_size == 0:
            for group in self.optimizer.param_groups:
                group["lr"] = group["lr"] * self.gamma
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        # the two flags are torch's bookkeeping of a step in progress: always False between calls
        return {"step_size": self.step_size, "gamma": self.gamma, "base_lrs": list(self.base_lrs),
                "last_epoch": self.last_epoch, "_step_count": self._step_count, "_is_initial": False,
                "_get_lr_called_within_step": False, "_last_lr": list(self._last_lr)}

    def load_state_dict(self, state_dict: dict):
        """Load a state_dict() of this class or of torch's StepLR. As torch does, the saved
        step_size and gamma replace the ones this scheduler was built with."""
        if not isinstance(state_dict, dict):
            raise ValueError("scheduler state must be a dict")
        missing = {"step_size", "gamma", "base_lrs", "last_epoch", "_step_count", "_last_lr"} - set(state_dict)
        if missing:
            raise ValueError(f"scheduler state lacks {sorted(missing)}")
        step_size, gamma, last_epoch, count = (state_dict[k] for k in ("step_size", "gamma", "last_epoch", "_step_count"))
        n = len(self.optimizer.param_groups)
        lists = [state_dict["base_lrs"], state_dict["_last_lr"]]
        if not all(isinstance(v, list) and len(v) == n and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in v) for v in lists):
            raise ValueError(f"scheduler base_lrs and _last_lr must be lists of {n} numbers")
        if any(isinstance(v, bool) or not isinstance(v, int) for v in (step_size, last_epoch, count)) \
                or step_size < 1 or last_epoch < 0 or count < 1:
            raise ValueError("scheduler step_size, last_epoch and _step_count must be whole numbers "
                             f"(>= 1, >= 0, >= 1), got {step_size!r}, {last_epoch!r}, {count!r}")
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not math.isfinite(gamma) or gamma < 0:
            raise ValueError(f"scheduler gamma must be a finite number >= 0, got {gamma!r}")
        self.step_size, self.gamma, self.last_epoch, self._step_count = step_size, gamma, last_epoch, count
        self.base_lrs, self._last_lr = list(state_dict["base_lrs"]), list(state_dict["_last_lr"])
