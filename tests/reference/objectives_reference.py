#!/usr/bin/env python3
"""Independent float64 PyTorch reference for the ssl-core objectives.

Writes crates/ssl-core/tests/fixtures/objectives.json. Run from the workspace root:

    .venv/bin/python tests/reference/objectives_reference.py

Every case holds: name, objective, params (floats), inputs (name -> {shape, data}),
loss, grads (input name -> flat row-major list). Some objectives store extra outputs
(see docs/objectives-notes.md for the exact semantics of each):
  unigrad:       "F_next", "extra_inputs" {z2, z1m}, "loss_symmetric", "grads_symmetric"
  uota_weights:  "weights"
The script is deterministic (fixed seeds, float64, CPU only).
"""

import json
import math
import os
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

N, D, K = 6, 5, 7  # batch, embedding dim, MoCo queue length

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "crates", "ssl-core", "tests", "fixtures", "objectives.json")


# ----------------------------------------------------------------------------- helpers

def rows_unit(x):
    """Plain L2 row normalisation (no eps clamp: inputs are far from zero)."""
    return x / x.norm(dim=-1, keepdim=True)


def enc(t):
    t = t.detach().to(torch.float64).contiguous()
    vals = [float(v) for v in t.reshape(-1).tolist()]
    assert all(math.isfinite(v) for v in vals), "non-finite value in fixture"
    return {"shape": list(t.shape), "data": vals}


def flat(t):
    return enc(t)["data"]


def run_case(name, objective, params, inputs, fn, grad_names, **extra):
    """inputs: dict name -> float64 tensor. fn(**leaves) -> scalar loss."""
    leaves = {k: v.clone().requires_grad_(k in grad_names) for k, v in inputs.items()}
    loss = fn(**leaves)
    assert loss.dim() == 0
    loss.backward()
    grads = {}
    for k in grad_names:
        g = leaves[k].grad
        grads[k] = flat(g if g is not None else torch.zeros_like(leaves[k]))
    case = {
        "name": name,
        "objective": objective,
        "params": {k: float(v) for k, v in params.items()},
        "inputs": {k: enc(v) for k, v in inputs.items()},
        "loss": float(loss.item()),
        "grads": grads,
    }
    case.update(extra)
    return case


# ----------------------------------------------------------------------------- objectives

def nt_xent(z1, z2, temperature):
    n = z1.shape[0]
    z = rows_unit(torch.cat([z1, z2], dim=0))
    logits = z @ z.t() / temperature
    eye = torch.eye(2 * n, dtype=torch.bool)
    logits = logits.masked_fill(eye, float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, target)  # mean over the 2N rows


def moco_infonce(q, k, queue, temperature):
    q = rows_unit(q)
    k = rows_unit(k).detach()
    queue = queue.detach()  # rows already unit norm, constants
    pos = (q * k).sum(-1, keepdim=True)  # [N,1]
    neg = q @ queue.t()  # [N,K]
    logits = torch.cat([pos, neg], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))


def moco_v3(q, k, temperature):
    q = rows_unit(q)
    k = rows_unit(k).detach()
    logits = q @ k.t() / temperature
    return F.cross_entropy(logits, torch.arange(q.shape[0])) * (2.0 * temperature)


def byol(p, z):
    cos = (rows_unit(p) * rows_unit(z.detach())).sum(-1)
    return (2.0 - 2.0 * cos).mean()


def simsiam(p1, p2, z1, z2):
    c1 = (rows_unit(p1) * rows_unit(z2.detach())).sum(-1)
    c2 = (rows_unit(p2) * rows_unit(z1.detach())).sum(-1)
    return 0.5 * (-c1).mean() + 0.5 * (-c2).mean()


def _bn_train(z, eps=1e-5):
    # BatchNorm1d(affine=False), training mode: batch mean, BIASED variance, eps inside sqrt
    return F.batch_norm(z, None, None, training=True, momentum=0.0, eps=eps)


def _bn_manual(z, eps=1e-5):
    mu = z.mean(0)
    var = ((z - mu) ** 2).mean(0)
    return (z - mu) / torch.sqrt(var + eps)


def _offdiag(c):
    return c[~torch.eye(c.shape[0], dtype=torch.bool)]


def barlow_twins(z1, z2, lambd):
    n = z1.shape[0]
    c = _bn_train(z1).t() @ _bn_train(z2) / n
    on = (torch.diagonal(c) - 1.0).pow(2).sum()
    off = _offdiag(c).pow(2).sum()
    return on + lambd * off


def vicreg(z1, z2, sim_coeff, std_coeff, cov_coeff):
    n, d = z1.shape
    repr_loss = F.mse_loss(z1, z2)  # mean over N*D
    x = z1 - z1.mean(0)
    y = z2 - z2.mean(0)
    std_x = torch.sqrt(x.var(dim=0, unbiased=True) + 1e-4)
    std_y = torch.sqrt(y.var(dim=0, unbiased=True) + 1e-4)
    std_loss = F.relu(1 - std_x).mean() / 2 + F.relu(1 - std_y).mean() / 2
    cov_x = x.t() @ x / (n - 1)
    cov_y = y.t() @ y / (n - 1)
    cov_loss = _offdiag(cov_x).pow(2).sum() / d + _offdiag(cov_y).pow(2).sum() / d
    return sim_coeff * repr_loss + std_coeff * std_loss + cov_coeff * cov_loss


def unigrad_one_direction(z1, z2m, F_mat, lambd):
    """mean_n < sg(-u2m + lambda u1 F), u1 >, u = row-normalised; F constant."""
    u1 = rows_unit(z1)
    u2m = rows_unit(z2m).detach()
    g = (-u2m + lambd * (u1 @ F_mat.detach())).detach()
    return (g * u1).sum(-1).mean()


def unigrad_symmetric(z1, z2, z1m, z2m, F_mat, lambd):
    return 0.5 * (unigrad_one_direction(z1, z2m, F_mat, lambd)
                  + unigrad_one_direction(z2, z1m, F_mat, lambd))


def unigrad_F_next(F_mat, z1m, z2m, rho):
    u1m, u2m = rows_unit(z1m), rows_unit(z2m)
    n = u1m.shape[0]
    tmp = (u1m.t() @ u1m + u2m.t() @ u2m) / (2 * n)
    return rho * F_mat + (1.0 - rho) * tmp


def nac(u1, u2, l1, l2, flip, p):
    """NAC (yookoon/nac, train.py `train`, HEAD 7d706c0), non-momentum variant.

    u1,u2: pre-tanh code-layer outputs of the two views [N,D] (the model has already divided
           them by sqrt(d)); l1,l2: q-network logits of the two views [N,D] (also /sqrt(d));
    flip:  [2N,D] of +-1, the binary-symmetric-channel mask (constant)."""
    n = u1.shape[0]
    y = torch.tanh(torch.cat([u1, u2], dim=0))  # [2N,D]
    y_noisy = flip.detach() * y
    beta = 0.5 * math.log((1.0 - p) / p)
    sim = (y_noisy @ y.t()) * beta  # [2N,2N], diagonal NOT masked
    # relaxed Bernoulli log q(y~|x_other) = 0.5 * sum_d (y~ l + log q(1-q) + log 4)
    def log_q(code, logit):
        return 0.5 * (code * logit + F.logsigmoid(logit) + F.logsigmoid(-logit)
                      + math.log(4.0)).sum(-1)
    pos1 = log_q(y_noisy[:n], l2)  # noisy code of view 1 scored by q from view 2
    pos2 = log_q(y_noisy[n:], l1)  # noisy code of view 2 scored by q from view 1
    pos = torch.cat([pos1, pos2], dim=0)
    return (-pos + torch.logsumexp(sim, dim=-1)).mean()


def uota_weights(z, n_global, tau, eps):
    """z [N,M,D] (rows already unit norm). Returns weights [N,M], no gradient."""
    with torch.no_grad():
        n, m, d = z.shape
        mu = z[:, :n_global, :].mean(dim=1, keepdim=True)  # [N,1,D]
        delta = (z - mu).reshape(n * m, d)
        sigma = delta.t() @ delta / float(n * m) + eps * torch.eye(d)
        sinv = torch.linalg.inv(sigma)
        maha = ((delta @ sinv) * delta).sum(-1) / tau  # [N*M]
        w = torch.softmax(-maha, dim=0) * float(n * m)
        return w.reshape(n, m)


def uota_loss(z, per_view_loss, n_global, tau, eps):
    w = uota_weights(z, n_global, tau, eps)
    return (w * per_view_loss).mean()


# ----------------------------------------------------------------------------- sanity checks

def sinkhorn(out, epsilon, iterations):
    """SwAV's Sinkhorn-Knopp (official distributed_sinkhorn, one process)."""
    Q = torch.exp(out / epsilon).t()
    B = Q.shape[1]
    K_ = Q.shape[0]
    Q = Q / torch.sum(Q)
    for _ in range(iterations):
        Q = Q / torch.sum(Q, dim=1, keepdim=True)
        Q = Q / K_
        Q = Q / torch.sum(Q, dim=0, keepdim=True)
        Q = Q / B
    Q = Q * B
    return Q.t()


def swav(scores, n_views, n_global, temperature, epsilon, iterations, queues=None):
    """SwAV's swapped prediction, as the official training loop computes it: `scores` are
    the prototype scores of all crops stacked crop after crop, the first `n_global` assign
    codes; `queues[i]` are queued scores prepended before Sinkhorn for assign crop i."""
    bs = scores.shape[0] // n_views
    loss = 0
    for i, crop_id in enumerate(range(n_global)):
        with torch.no_grad():
            out = scores[bs * crop_id: bs * (crop_id + 1)].detach()
            if queues is not None:
                out = torch.cat((queues[i], out))
            q = sinkhorn(out, epsilon, iterations)[-bs:]
        subloss = 0
        for v in [v for v in range(n_views) if v != crop_id]:
            x = scores[bs * v: bs * (v + 1)] / temperature
            subloss -= torch.mean(torch.sum(q * F.log_softmax(x, dim=1), dim=1))
        loss += subloss / (n_views - 1)
    return loss / n_global


def sanity_checks():
    # 1. nt_xent of identical embeddings is log(2N-1) for any temperature
    v = torch.randn(1, D)
    same = v.repeat(N, 1)
    for t in (0.1, 0.5, 1.0):
        got = nt_xent(same, same, t).item()
        assert abs(got - math.log(2 * N - 1)) < 1e-12, (got, math.log(2 * N - 1))
    # 2. BatchNorm1d(affine=False) training-mode == manual biased standardisation
    z = torch.randn(N, D)
    assert torch.allclose(_bn_train(z), _bn_manual(z), atol=1e-13)
    bn = torch.nn.BatchNorm1d(D, affine=False).double().train()
    assert torch.allclose(bn(z), _bn_manual(z), atol=1e-13)
    # 3. UniGrad: gradient w.r.t. the normalised z1 is (-u2m + lambda u1 F)/N
    z1, z2m = torch.randn(N, D), torch.randn(N, D)
    A = rows_unit(torch.randn(16, D))
    Fm = A.t() @ A / 16
    u1 = rows_unit(z1).requires_grad_(True)
    lam = 7.0
    u2m = rows_unit(z2m)
    g = (-u2m + lam * (u1 @ Fm)).detach()
    (g * u1).sum(-1).mean().backward()
    assert torch.allclose(u1.grad, (-u2m + lam * u1.detach() @ Fm) / N, atol=1e-13)
    # 4. NAC Bernoulli term: for hard codes y in {-1,+1}, 0.5(y l + log q(1-q)) = log sigmoid(y l)
    l = torch.randn(50)
    yb = torch.where(torch.rand(50) > 0.5, 1.0, -1.0)
    lhs = 0.5 * (yb * l + F.logsigmoid(l) + F.logsigmoid(-l))
    assert torch.allclose(lhs, F.logsigmoid(yb * l), atol=1e-13)
    # 5. UOTA weights sum to N*M and are all 1 when the views of an instance coincide
    zz = rows_unit(torch.randn(N, 4, D))
    w = uota_weights(zz, 2, 350.0, 1e-8)
    assert abs(w.sum().item() - N * 4) < 1e-10
    # 6. moco_v3 with a single-element batch-free check: CE(q k^T/t) * 2t equals nt-style formula
    q, k = torch.randn(N, D), torch.randn(N, D)
    t = 0.2
    qn, kn = rows_unit(q), rows_unit(k)
    lg = qn @ kn.t() / t
    manual = (-(torch.diagonal(lg)) + torch.logsumexp(lg, dim=1)).mean() * 2 * t
    assert abs(manual.item() - moco_v3(q, k, t).item()) < 1e-13


# ----------------------------------------------------------------------------- cases

def make_cases():
    cases = []

    # nt_xent
    for seed, t in ((11, 0.5), (12, 0.1), (13, 0.2)):
        torch.manual_seed(seed)
        ins = {"z1": torch.randn(N, D), "z2": torch.randn(N, D)}
        cases.append(run_case(f"nt_xent_s{seed}_t{t}", "nt_xent", {"temperature": t}, ins,
                              lambda z1, z2, t=t: nt_xent(z1, z2, t), ["z1", "z2"]))

    # moco_infonce
    for seed, t in ((21, 0.2), (22, 0.07), (23, 0.5)):
        torch.manual_seed(seed)
        ins = {"q": torch.randn(N, D), "k": torch.randn(N, D),
               "queue": rows_unit(torch.randn(K, D))}
        cases.append(run_case(f"moco_infonce_s{seed}_t{t}", "moco_infonce", {"temperature": t},
                              ins, lambda q, k, queue, t=t: moco_infonce(q, k, queue, t),
                              ["q", "k", "queue"]))

    # moco_v3
    for seed, t in ((31, 0.2), (32, 1.0), (33, 0.1)):
        torch.manual_seed(seed)
        ins = {"q": torch.randn(N, D), "k": torch.randn(N, D)}
        cases.append(run_case(f"moco_v3_s{seed}_t{t}", "moco_v3", {"temperature": t}, ins,
                              lambda q, k, t=t: moco_v3(q, k, t), ["q", "k"]))

    # byol
    for seed in (41, 42):
        torch.manual_seed(seed)
        ins = {"p": torch.randn(N, D), "z": torch.randn(N, D)}
        cases.append(run_case(f"byol_s{seed}", "byol", {}, ins, byol, ["p", "z"]))

    # simsiam
    for seed in (51, 52):
        torch.manual_seed(seed)
        ins = {k: torch.randn(N, D) for k in ("p1", "p2", "z1", "z2")}
        cases.append(run_case(f"simsiam_s{seed}", "simsiam", {}, ins, simsiam,
                              ["p1", "p2", "z1", "z2"]))

    # barlow_twins
    for seed, lam, scale in ((61, 0.0051, 1.0), (62, 0.1, 3.0), (63, 0.0051, 0.5)):
        torch.manual_seed(seed)
        z1 = torch.randn(N, D) * scale + 0.3
        z2 = 0.6 * z1 + 0.8 * torch.randn(N, D) * scale  # correlated views
        ins = {"z1": z1, "z2": z2}
        cases.append(run_case(f"barlow_twins_s{seed}_l{lam}", "barlow_twins", {"lambda": lam},
                              ins, lambda z1, z2, lam=lam: barlow_twins(z1, z2, lam),
                              ["z1", "z2"]))

    # vicreg (scale chosen so that some / all / no std hinges are active)
    for seed, coeffs, scale in ((71, (25.0, 25.0, 1.0), 1.0),
                                (72, (25.0, 25.0, 1.0), 0.4),
                                (73, (1.0, 2.0, 3.0), 2.5)):
        torch.manual_seed(seed)
        ins = {"z1": torch.randn(N, D) * scale, "z2": torch.randn(N, D) * scale}
        s, v, c = coeffs
        cases.append(run_case(f"vicreg_s{seed}", "vicreg",
                              {"sim_coeff": s, "std_coeff": v, "cov_coeff": c}, ins,
                              lambda z1, z2, s=s, v=v, c=c: vicreg(z1, z2, s, v, c),
                              ["z1", "z2"]))

    # unigrad
    for seed, lam, rho in ((81, 100.0, 0.99), (82, 10.0, 0.9), (83, 100.0, 0.99)):
        torch.manual_seed(seed)
        z1, z2, z1m, z2m = (torch.randn(N, D) for _ in range(4))
        A = rows_unit(torch.randn(16, D))
        Fm = A.t() @ A / 16.0  # symmetric PSD, trace 1 (like an EMA of u^T u / N)
        ins = {"z1": z1, "z2m": z2m, "F": Fm}
        # symmetric loss + grads (extra)
        leaves = {k: v.clone().requires_grad_(True) for k, v in
                  {"z1": z1, "z2": z2, "z1m": z1m, "z2m": z2m}.items()}
        ls = unigrad_symmetric(leaves["z1"], leaves["z2"], leaves["z1m"], leaves["z2m"], Fm, lam)
        ls.backward()
        grads_sym = {k: flat(leaves[k].grad if leaves[k].grad is not None
                             else torch.zeros(N, D)) for k in leaves}
        F_next = unigrad_F_next(Fm, z1m, z2m, rho)
        cases.append(run_case(
            f"unigrad_s{seed}_l{lam}", "unigrad", {"lambda": lam, "rho": rho}, ins,
            lambda z1, z2m, F, lam=lam: unigrad_one_direction(z1, z2m, F, lam),
            ["z1", "z2m", "F"],
            F_next=flat(F_next),
            extra_inputs={"z2": enc(z2), "z1m": enc(z1m)},
            loss_symmetric=float(ls.item()),
            grads_symmetric=grads_sym,
        ))

    # nac
    for seed, p in ((91, 0.1), (92, 0.4), (93, 0.1)):
        torch.manual_seed(seed)
        u1 = torch.randn(N, D) * 0.8
        u2 = 0.7 * u1 + 0.5 * torch.randn(N, D)
        l1 = torch.randn(N, D)
        l2 = torch.randn(N, D)
        flip = torch.where(torch.rand(2 * N, D) > p, 1.0, -1.0)  # +1 kept w.p. 1-p
        ins = {"u1": u1, "u2": u2, "l1": l1, "l2": l2, "flip": flip}
        cases.append(run_case(f"nac_s{seed}_p{p}", "nac", {"p": p}, ins,
                              lambda u1, u2, l1, l2, flip, p=p: nac(u1, u2, l1, l2, flip, p),
                              ["u1", "u2", "l1", "l2", "flip"]))

    # uota_weights
    for seed, m, ng, tau, eps in ((101, 4, 2, 350.0, 1e-8),
                                  (102, 4, 2, 1.0, 1e-3),
                                  (103, 3, 1, 5.0, 1e-8)):
        torch.manual_seed(seed)
        base = torch.randn(N, 1, D)
        z = rows_unit(base + 0.6 * torch.randn(N, m, D))
        pvl = torch.rand(N, m) * 3.0
        w = uota_weights(z, ng, tau, eps)
        cases.append(run_case(
            f"uota_s{seed}_m{m}_tau{tau}", "uota_weights",
            {"n_global": ng, "tau": tau, "eps": eps},
            {"z": z, "per_view_loss": pvl},
            lambda z, per_view_loss, ng=ng, tau=tau, eps=eps:
                uota_loss(z, per_view_loss, ng, tau, eps),
            ["per_view_loss"],
            weights=flat(w),
        ))
    # swav: two views; 2 global + 2 local crops; with a queue prepended before Sinkhorn
    for seed, views, ng, queued in ((201, 2, 2, False), (202, 4, 2, False), (203, 2, 2, True)):
        torch.manual_seed(seed)
        protos = rows_unit(torch.randn(K, D))
        base = torch.randn(N, 1, D)
        z = rows_unit(base + 0.5 * torch.randn(N, views, D)).transpose(0, 1).reshape(views * N, D)
        scores = z @ protos.t()
        ins = {"scores": scores}
        qs = None
        if queued:
            qs = [rows_unit(torch.randn(3 * N, D)) @ protos.t() for _ in range(ng)]
            ins.update({f"queue{i}": q for i, q in enumerate(qs)})
        params = {"n_views": views, "n_global": ng, "temperature": 0.1, "epsilon": 0.05, "iterations": 3}
        cases.append(run_case(f"swav_s{seed}_v{views}{'_queue' if queued else ''}", "swav", params, ins,
                              lambda scores, qs=qs, views=views, ng=ng, **_: swav(scores, views, ng, 0.1, 0.05, 3, qs),
                              ["scores"],
                              codes=flat(sinkhorn(scores[:N], 0.05, 3))))
    return cases


def main():
    torch.manual_seed(0)
    sanity_checks()
    cases = make_cases()
    doc = {
        "generator": "tests/reference/objectives_reference.py",
        "torch_version": torch.__version__,
        "dtype": "float64",
        "sizes": {"N": N, "D": D, "K": K},
        "notes": "see docs/objectives-notes.md for formulas; flat lists are row-major",
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1, allow_nan=False)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.relpath(OUT, ROOT)}")
    for c in cases:
        print(f"  {c['name']:<32} loss = {c['loss']:.12g}")


if __name__ == "__main__":
    sys.exit(main())
