"""Training regimes (:mod:`attrbench.training.regimes`) against their definitions.

IG-NORM (Chen et al. 2019): the objective CE(x, y) + λ ‖IG^CE(x, x')‖_1 is computed by hand (numpy,
float64) on a two-feature linear model, whose loss gradient is W^T (softmax(Wz + b) - e_y); one
training step equals one SGD step on that functional objective at the same x', and lowers it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attrbench.adversarial import InputSpace, ig_norm_loss
from attrbench.errors import AttrbenchError
from attrbench.models import (checkpoint_regime, create_model, load_checkpoint,
                              read_checkpoint_metadata, save_checkpoint)
from attrbench.models.pretrained import load_pretrained, pretrained_metadata, pretrained_path
from attrbench.training import TrainConfig, train
from attrbench.training.regimes import (
    REGIMES,
    create_regime,
    list_regimes,
    training_step,
)

W = np.array([[1.0, -1.0], [0.5, 2.0], [-0.3, 0.4]])  # 3 classes, 2 features
B = np.array([0.1, -0.2, 0.05])
SPACE = InputSpace((0.5,), (0.5,))  # inputs in [-1, 1]


def linear_model() -> nn.Module:
    """f(x) = W x + b on (N, 1, 1, 2) inputs."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 3))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor(W))
        model[1].bias.copy_(torch.tensor(B))
    return model


def hand_objective(x: np.ndarray, xp: np.ndarray, y: np.ndarray, lam: float, m: int) -> np.ndarray:
    """Per-example CE(x) + lam * sum_i |(x'_i - x_i) (1/m) sum_k dCE(x + k/m (x' - x))/dz_i|."""

    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max())
        return e / e.sum()

    out = []
    for xi, xpi, yi in zip(x, xp, y):
        onehot = np.eye(3)[yi]
        ce = -np.log(softmax(W @ xi + B)[yi])
        grads = [W.T @ (softmax(W @ (xi + k / m * (xpi - xi)) + B) - onehot)
                 for k in range(1, m + 1)]
        ig = (xpi - xi) * np.mean(grads, axis=0)
        out.append(ce + lam * np.abs(ig).sum())
    return np.array(out)


X = np.array([[0.2, -0.4], [-0.7, 0.9], [0.0, 0.3]])
XP = np.array([[0.5, 0.1], [-0.2, 0.6], [0.3, -0.3]])
Y = np.array([1, 0, 2])


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float32).view(-1, 1, 1, 2)


def test_ig_norm_objective_equals_the_hand_computed_definition() -> None:
    regime = create_regime("ig-norm", None, {"lam": 0.7, "ig_steps": 4}, SPACE)
    model = linear_model()
    y = torch.tensor(Y)
    per_example, logits = regime.loss(model, _t(X), _t(XP), y, reduction="none")
    want = hand_objective(X, XP, Y, lam=0.7, m=4)
    np.testing.assert_allclose(per_example.detach().numpy(), want, rtol=1e-5)
    mean, _ = regime.loss(model, _t(X), _t(XP), y)
    assert float(mean.detach()) == pytest.approx(want.mean(), rel=1e-5)
    torch.testing.assert_close(logits, model(_t(X)))
    # lam = 0: plain cross-entropy, whatever x'
    plain = create_regime("ig-norm", None, {"lam": 0.0}, SPACE).loss(model, _t(X), _t(XP), y)[0]
    plain = plain.detach()
    assert float(plain) == pytest.approx(hand_objective(X, XP, Y, 0.0, 1).mean(), rel=1e-6)


def test_ig_norm_step_is_one_sgd_step_on_the_functional_objective_and_lowers_it() -> None:
    params = {"eps": 0.2, "step": 0.05, "steps": 3, "ig_steps": 4, "lam": 0.5}
    regime = create_regime("ig-norm", None, params, SPACE)
    model, reference = linear_model().train(), linear_model().train()
    x, y = _t(X), torch.tensor(Y)
    x_adv = regime.perturb(reference, x, y, torch.Generator().manual_seed(5))
    assert float((x_adv - x).abs().max()) <= 0.2 / 0.5 + 1e-6  # pixel eps 0.2 = 0.4 input units
    assert all(p.grad is None for p in reference.parameters())  # the attack leaves .grad alone
    functional, _ = ig_norm_loss(reference, x, x_adv, y, regime.config)
    grads = torch.autograd.grad(functional, list(reference.parameters()))
    lr = 0.05
    loss, _ = training_step(regime, model, torch.optim.SGD(model.parameters(), lr=lr), x, y,
                            torch.Generator().manual_seed(5))
    assert float(loss) == pytest.approx(float(functional.detach()), rel=1e-6)
    for p, p0, g in zip(model.parameters(), reference.parameters(), grads):
        torch.testing.assert_close(p, p0 - lr * g)
    after, _ = ig_norm_loss(model, x, x_adv, y, regime.config)
    assert float(after.detach()) < float(functional.detach())


def test_ig_norm_on_batchnorm_model_updates_running_stats_once_and_backpropagates() -> None:
    """Only the clean forward pass moves BatchNorm's running statistics; the regulariser's path
    points use their own batch statistics, and the objective still differentiates."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                        nn.Linear(8, 3)).train()
    plain = copy.deepcopy(net)
    x = torch.rand(5, 1, 1, 2) * 2 - 1
    xp = (x + 0.1 * torch.randn(5, 1, 1, 2)).clamp(-1, 1)
    y = torch.tensor([0, 1, 2, 0, 1])
    regime = create_regime("ig-norm", None, {"lam": 1.0, "ig_steps": 3}, SPACE)
    loss, _ = regime.loss(net, x, xp, y)
    loss.backward()  # no "modified by an inplace operation"
    assert all(p.grad is not None for p in net.parameters())
    plain(x)
    for a, b in zip(net[1].buffers(), plain[1].buffers()):
        assert torch.equal(a, b)


def test_natural_and_pgd_objectives() -> None:
    model, x, y = linear_model(), _t(X), torch.tensor(Y)
    natural = create_regime("none")
    assert natural.perturb(model, x, y) is None
    loss, _ = natural.loss(model, x, None, y, label_smoothing=0.1)
    assert torch.equal(loss, F.cross_entropy(model(x), y, label_smoothing=0.1))
    pgd = create_regime("pgd", "mnist", {"steps": 2, "random_start": False}, SPACE)
    x_adv = pgd.perturb(model, x, y, torch.Generator().manual_seed(0))
    per_example, logits = pgd.loss(model, x, x_adv, y, reduction="none")
    torch.testing.assert_close(per_example, F.cross_entropy(model(x_adv), y, reduction="none"))
    torch.testing.assert_close(logits, model(x_adv))  # accuracy is counted on x'
    assert float(per_example.mean().detach()) > float(natural.loss(model, x, None, y)[0].detach())


def test_registry_records_and_errors() -> None:
    assert list_regimes() == ["ig-norm", "none", "pgd"] == list(REGIMES)
    record = create_regime("pgd", "flower", {"steps": 3}, SPACE).record()
    assert record["name"] == "pgd" and record["preset"] == "flower"
    assert record["params"] == {"steps": 3} and record["resolved"]["steps"] == 3
    assert round(record["resolved"]["eps"] * 255) == 8
    assert create_regime("none").record() == {"name": "none", "preset": None, "params": {},
                                              "resolved": None}
    with pytest.raises(AttrbenchError, match="Unknown training regime 'ignorm'.*'ig-norm'"):
        create_regime("ignorm")
    with pytest.raises(AttrbenchError, match="Unknown IG-NORM preset 'cifar'"):
        create_regime("ig-norm", "cifar", None, SPACE)
    with pytest.raises(AttrbenchError, match="needs the input space"):
        create_regime("pgd").perturb(linear_model(), _t(X), torch.tensor(Y))
    with pytest.raises(AttrbenchError, match="reduction must be 'mean' or 'none'"):
        create_regime("none").loss(linear_model(), _t(X), None, torch.tensor(Y), reduction="sum")


def test_diverged_step_is_refused_before_any_update() -> None:
    model = linear_model()
    before = [p.clone() for p in model.parameters()]
    x = _t(X) * float("nan")
    with pytest.raises(AttrbenchError, match=r"Training diverged \(loss nan\) in epoch 2; lower"):
        training_step(create_regime("none"), model, torch.optim.SGD(model.parameters(), lr=1.0),
                      x, torch.tensor(Y), where=" in epoch 2")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_every_loaded_sidecar_has_a_regime_record(tmp_path: Path) -> None:
    """Sidecars written before regimes kept the record under "adversarial" (shipped models, old
    PGD runs); read_checkpoint_metadata / load_checkpoint give every one a "regime" record."""
    natural = create_regime("none").record()
    raw = json.loads(pretrained_path("cifar_resnet20.none").with_suffix(".json").read_text())
    assert "adversarial" in raw and "regime" not in raw  # as shipped
    assert pretrained_metadata("cifar_resnet20.none")["regime"] == natural
    assert load_pretrained("cifar_resnet20.none")[1]["regime"] == natural

    model = create_model("small_cnn", num_classes=3, in_channels=1)
    old_pgd = {"name": "pgd", "preset": "mnist", "resolved": {"steps": 2}}
    save_checkpoint(model, tmp_path / "old", {"adversarial": old_pgd})
    want = {"name": "pgd", "preset": "mnist", "params": {}, "resolved": {"steps": 2}}
    assert read_checkpoint_metadata(tmp_path / "old")["regime"] == want
    meta = load_checkpoint(tmp_path / "old.safetensors")[1]
    assert meta["regime"] == want and meta["adversarial"] == old_pgd  # the old key is kept
    save_checkpoint(model, tmp_path / "bare")
    assert read_checkpoint_metadata(tmp_path / "bare")["regime"] == natural
    record = create_regime("pgd", "mnist", {"steps": 3}).record()
    save_checkpoint(model, tmp_path / "new", {"regime": record, "adversarial": old_pgd})
    assert read_checkpoint_metadata(tmp_path / "new")["regime"] == json.loads(json.dumps(record))
    assert checkpoint_regime({"regime": "pgd"}) == natural  # not a record: natural


def _cfg(**kw) -> TrainConfig:
    base = dict(dataset="mnist-mini", model="small_cnn", epochs=1, batch_size=32, train_limit=64,
                test_limit=16, device="cpu", seed=3)
    return TrainConfig.from_recipe("quick", **{**base, **kw})


def test_natural_identity_is_unchanged_and_old_pgd_runs_resume(tmp_path: Path) -> None:
    """Natural training serialises under the pre-regime keys (ROAR folders, run.json and shipped
    sidecars keep their identity); a PGD run.json written with the old keys still resumes."""
    natural = _cfg().to_dict()
    assert (natural["adversarial"], natural["adversarial_preset"],
            natural["adversarial_params"]) == ("none", None, {})
    assert not {"regime", "regime_preset", "regime_params"} & set(natural)
    shipped = pretrained_metadata("cifar_resnet20.none")["config"]
    assert {k: shipped[k] for k in ("adversarial", "adversarial_preset", "adversarial_params")} \
        == {k: natural[k] for k in ("adversarial", "adversarial_preset", "adversarial_params")}
    pgd = _cfg(regime="pgd", regime_preset="mnist", regime_params={"steps": 1}, epochs=2)
    train(pgd, tmp_path / "r", progress=False)
    run_file = tmp_path / "r" / "run.json"
    run = json.loads(run_file.read_text())
    for key, old in (("regime", "adversarial"), ("regime_preset", "adversarial_preset"),
                     ("regime_params", "adversarial_params")):
        run["config"][old] = run["config"].pop(key)
    run_file.write_text(json.dumps(run))
    assert len(train(pgd, tmp_path / "r", progress=False).history) == 2  # loaded, not refused
    other = _cfg(regime="pgd", regime_preset="mnist", regime_params={"steps": 2}, epochs=2)
    with pytest.raises(AttrbenchError, match="differs in: regime_params"):
        train(other, tmp_path / "r", progress=False)


def test_ig_norm_run_resumes_exactly(tmp_path: Path) -> None:
    cfg = _cfg(regime="ig-norm", regime_preset="mnist", epochs=2, train_limit=32, test_limit=8,
               regime_params={"steps": 1, "ig_steps": 2})
    train(cfg, tmp_path / "full", progress=False)

    class Crash(Exception):
        pass

    def crash(epoch: int) -> None:
        if epoch == 0:
            raise Crash

    with pytest.raises(Crash):
        train(cfg, tmp_path / "resumed", progress=False, on_epoch_end=crash)
    train(cfg, tmp_path / "resumed", progress=False)
    full = torch.load(tmp_path / "full" / "resume.pt", weights_only=True)["model"]
    resumed = torch.load(tmp_path / "resumed" / "resume.pt", weights_only=True)["model"]
    assert all(torch.equal(full[k], resumed[k]) for k in full)
    sidecar = json.loads((tmp_path / "full" / "model.json").read_text())
    assert sidecar["regime"]["name"] == "ig-norm" and sidecar["regime"]["resolved"]["lam"] == 1.0
    assert load_checkpoint(tmp_path / "full" / "model")[1]["regime"] == sidecar["regime"]
    run = json.loads((tmp_path / "full" / "run.json").read_text())["config"]
    assert run["regime"] == "ig-norm" and run["regime_params"] == {"steps": 1, "ig_steps": 2}


def test_cli_regime_flags_and_config_table(tmp_path: Path) -> None:
    """--regime / --regime-preset / --regime-param, and [train] regime_params from a TOML file
    (flags win); the old --adversarial flags are gone."""
    from typer.testing import CliRunner

    from attrbench.cli import app

    base = ["train", "--dataset", "mnist-mini", "--epochs", "1", "--batch-size", "8",
            "--train-limit", "8", "--test-limit", "4", "--device", "cpu"]
    (tmp_path / "c.toml").write_text('[train]\nregime = "ig-norm"\n'
                                     'regime_params = {steps = 1, ig_steps = 3}\n')
    runner = CliRunner()
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "r"), "--config",
                                 str(tmp_path / "c.toml"), "--regime-preset", "flower",
                                 "--regime-param", "ig_steps=2"])
    assert result.exit_code == 0, result.output
    regime = json.loads((tmp_path / "r" / "model.json").read_text())["regime"]
    assert (regime["name"], regime["preset"], regime["params"]) == (
        "ig-norm", "flower", {"steps": 1, "ig_steps": 2})
    assert regime["resolved"]["lam"] == 0.1 and round(regime["resolved"]["eps"] * 255) == 8
    old = runner.invoke(app, [*base, "--out", str(tmp_path / "o"), "--adversarial", "pgd"])
    assert old.exit_code != 0 and "No such option" in old.output
    bad = runner.invoke(app, [*base, "--out", str(tmp_path / "b"), "--regime", "pgd",
                              "--regime-param", "lam=1"])
    assert "Unknown PGD option(s) lam" in str(bad.exception)


def test_ig_norm_is_refused_under_torchrun_before_joining(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    """IG-NORM's double-backward regulariser is not run through DDP: refused, naming the fix,
    before any process group is joined or any file written."""
    for name in ("MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(AttrbenchError, match="'ig-norm' runs in one process only; drop --nproc"):
        train(_cfg(regime="ig-norm"), tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()
