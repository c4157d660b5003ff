from __future__ import annotations

import copy

import pytest
import torch

from nasengine.data import load_dataset
from nasengine.dynamic import (
    DynamicTrainConfig,
    GatedConfig,
    GatedNetwork,
    GatedRecipe,
    RNPConfig,
    RNPNetwork,
    RNPRecipe,
    evaluate_dynamic,
    train_dynamic,
)
from nasengine.dynamic.rnp_training import epsilon_at, sample_widths
from nasengine.dynamic.trainer import schedule

from .conftest import Stop, diverse, images, stop_after, tiny_backbone, tiny_gated, tiny_rnp


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits")  # 8x8, 1 channel
    train, val, _ = data.loaders(64)
    return train, val


def small(**kw) -> DynamicTrainConfig:
    base = dict(epochs=1, nested_epochs=1, policy_epochs=1, finetune_epochs=1, rounds=1, relaxed_epochs=1, batch_size=64)
    return DynamicTrainConfig(**{**base, **kw})


def test_schedules_follow_the_algorithms():
    cfg = small(epochs=2, rounds=2, policy_epochs=3)
    assert [(e.phase, e.index) for e in schedule(RNPRecipe(), cfg)][:5] == [("pretrain", 0), ("pretrain", 1),
                                                                             ("nested", 0), ("policy", 0), ("policy", 1)]
    assert [e.phase for e in schedule(RNPRecipe(), cfg)].count("finetune") == 2
    gated = ["pretrain"] * 2 + ["relaxed"] + ["policy"] * 3 + ["finetune"]
    assert [e.phase for e in schedule(GatedRecipe(), cfg)] == gated
    assert epsilon_at(cfg, 0.0) == 1.0 and epsilon_at(cfg, 0.7) == pytest.approx(0.05) == epsilon_at(cfg, 1.0)
    widths = sample_widths(1000, 6, 4, torch.device("cpu"))
    assert widths.min() == 0 and widths.max() == 3
    assert (widths.max(1).values - widths.min(1).values).max() <= 2  # around one level per sample
    with pytest.raises(ValueError, match="gamma"):
        DynamicTrainConfig(gamma=2.0)


def _penalised_groups(net, loader, penalty: float) -> float:
    cfg = small(epochs=1, policy_epochs=5, finetune_epochs=0, penalty=penalty, epsilon_start=0.5, seed=1)
    recipe = RNPRecipe()
    # only the decision phase: same backbone for both penalties
    phases = recipe.phases
    recipe.phases = lambda c: [p for p in phases(c) if p[0] == "policy"]  # type: ignore[method-assign]
    train_dynamic(net, recipe, loader, None, cfg, progress=False)
    x = torch.cat([x for x, _ in loader])
    _, route = net.execute(x, return_route=True)
    return route.float().mean().item()


def test_q_learning_penalty_trades_groups_for_accuracy(digits):
    train, _ = digits
    torch.manual_seed(0)
    net = RNPNetwork(RNPConfig(tiny_backbone("vgg"), groups=4, hidden=8))  # default (small) decision weights
    train_dynamic(net, RNPRecipe(), train, None, small(epochs=2, rounds=0), progress=False)
    free = _penalised_groups(copy.deepcopy(net), train, 0.0)
    costly = _penalised_groups(copy.deepcopy(net), train, 5.0)
    assert costly < free
    assert costly < free - 0.5, (free, costly)  # clearly fewer groups, not noise


def test_gated_training_learns_to_skip_under_a_penalty(digits):
    train, val = digits
    torch.manual_seed(0)
    net = GatedNetwork(GatedConfig(tiny_backbone("resnet"), hidden=8))  # gates start open
    cfg = small(epochs=2, relaxed_epochs=2, policy_epochs=1, penalty=4.0, lr=0.05)
    history = train_dynamic(net, GatedRecipe(), train, val, cfg, progress=False)
    assert [r["phase"] for r in history] == ["pretrain", "pretrain", "relaxed", "relaxed", "policy", "finetune"]
    assert history[-1]["val_mac_reduction"] > 1.15  # blocks are skipped
    # Input-dependent routes (with gate_norm=False this run has only 2 distinct routes).
    assert history[-1]["val_distinct_routes"] >= 5 and history[-1]["val_top_route_share"] < 0.4, history[-1]
    assert history[-1]["val_acc"] > 0.6, history


@pytest.mark.parametrize("method", ["rnp", "routing"])
def test_interrupted_training_resumes_to_the_same_weights(method, digits, tmp_path):
    train, val = digits
    build = (lambda: tiny_rnp("vgg")) if method == "rnp" else (lambda: tiny_gated("routing", "recurrent"))
    recipe = RNPRecipe() if method == "rnp" else GatedRecipe()
    cfg = small(epochs=1, relaxed_epochs=1, policy_epochs=1)
    reference = build().train()
    full = train_dynamic(reference, recipe, train, val, cfg, progress=False)

    net = build().train()
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(Stop):
        train_dynamic(net, recipe, train, val, cfg, checkpoint=ckpt, progress=False, on_epoch=stop_after(2))
    resumed = build().train()  # a fresh process would start from fresh weights
    history = train_dynamic(resumed, recipe, train, val, cfg, checkpoint=ckpt, progress=False)
    assert [r["phase"] for r in history] == [r["phase"] for r in full]
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, msg=key)
    assert history[-1]["val_acc"] == full[-1]["val_acc"]


def test_kernel_backends_give_the_same_results(monkeypatch):
    pytest.importorskip("triton")
    x = images(16)
    rnp = diverse(tiny_rnp, x, kind="vgg")
    gated = diverse(tiny_gated, x, routes=2, method="routing")
    results = {}
    for backend in ("reference", "triton"):
        monkeypatch.setenv("NASENGINE_KERNELS", backend)
        monkeypatch.setenv("TRITON_INTERPRET", "1")  # Triton kernels on CPU tensors
        a = copy.deepcopy(rnp)
        logits, route = a.execute(x, return_route=True)
        masked = a.train().forward_masked(x)  # BN with batch statistics through the epilogue
        masked.logits.sum().backward()
        grad = a.units[0].layer.bn.weight.grad.clone()
        g_logits, g_route = gated.execute(x, return_route=True)
        results[backend] = (logits, route, masked.logits, grad, g_logits, g_route)
    for ref, tri in zip(results["reference"], results["triton"]):
        torch.testing.assert_close(tri, ref, rtol=1e-4, atol=1e-5)


def test_evaluate_dynamic_reports_exact_means(digits):
    _, val = digits
    net = tiny_rnp("resnet")
    out = evaluate_dynamic(net, val)
    x = torch.cat([x for x, _ in val])
    _, route = net.execute(x, return_route=True)
    assert out["macs"] == pytest.approx(net.route_macs(route).double().mean().item())
    assert out["mac_reduction"] == pytest.approx(net.dense_macs() / out["macs"])
    distinct = {tuple(r) for r in route.tolist()}
    assert out["distinct_routes"] == len(distinct) > 1
    top = max(sum(1 for r in route.tolist() if tuple(r) == d) for d in distinct)
    assert out["top_route_share"] == pytest.approx(top / x.shape[0])


def test_cost_tables_scale_the_dense_route_to_one():
    from nasengine.dynamic.costs import cost_tables, route_cost

    net = tiny_rnp("vgg")
    follows = [u.input_follows_previous for u in net.units]
    full = torch.tensor([net.full_route()])
    x = images(8)
    _, route = net.execute(x, return_route=True)
    groups = cost_tables(net, "groups")
    assert route_cost(groups, route, follows).sum(1).tolist() == pytest.approx(
        ((route + 1).float().mean(1) / net.config.groups).tolist())
    macs = cost_tables(net, "macs")
    assert route_cost(macs, full, follows).sum().item() == pytest.approx(1.0)
    classifier = torch.tensor(net.classifier_table)[route[:, -1]]
    backbone = net.route_macs(route, include_decision=False) - net.fixed_macs - classifier
    dense = net.dense_macs() - net.fixed_macs - net.classifier_table[-1]
    assert route_cost(macs, route, follows).sum(1).tolist() == pytest.approx((backbone / dense).tolist())
    latency = cost_tables(net, "latency", repeats=3)
    assert [t.shape for t in latency] == [t.shape for t in macs] and all((t > 0).all() for t in latency)
    gated = tiny_gated("routing")
    for kind in ("macs", "latency"):
        tables = cost_tables(gated, kind, repeats=3)
        assert len(tables) == gated.steps and sum(float(t.max()) for t in tables) == pytest.approx(1.0)
        assert all(t[0, 0] == 0 or kind == "latency" for t in tables)  # the skip path costs no MACs
