"""The per-round trainer."""

import math

import torch

from sklearn_resboost._losses import SquaredError
from sklearn_resboost._trainer import AVERAGE_SHARE, RoundTrainer, batched, evaluate, loaded


def test_batched_covers_every_row_once():
    slices = list(batched(10, 4))
    assert [(s.start, s.stop) for s in slices] == [(0, 4), (4, 8), (8, 10)]
    assert list(batched(0, 4)) == []


def test_evaluate_matches_one_pass():
    layer = torch.nn.Linear(3, 2).double()
    x = torch.randn(11, 3, dtype=torch.float64)
    torch.testing.assert_close(evaluate(layer, x, 4), layer(x).detach())


def make_problem():
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = (x @ torch.tensor([[1.0], [-2.0], [0.5]])) + 0.1
    return x, y, torch.ones(64)


def test_trainer_decreases_the_objective_and_freezes_the_rest():
    x, y, w = make_problem()
    model = torch.nn.Linear(3, 1)
    frozen = torch.nn.Linear(1, 1)
    with torch.no_grad():
        frozen.weight.fill_(2.0)
    frozen_state = {k: v.clone() for k, v in frozen.state_dict().items()}
    loss = SquaredError(1)
    def forward(v):
        return frozen(model(v))

    before = loss.value(forward(x), y, w)
    trainer = RoundTrainer(loss, epochs=20, batch_size=16, lr=0.05, weight_decay=0.0, eval_batch_size=32, device=torch.device("cpu"))
    best_epoch = trainer.fit(forward, [model], [model], x, y, w)
    assert 1 <= best_epoch <= 20
    assert loss.value(forward(x), y, w) < 0.1 * before
    for key, value in frozen.state_dict().items():
        assert torch.equal(value, frozen_state[key])


def test_trainer_never_ends_worse_than_it_started():
    x, y, w = make_problem()
    model = torch.nn.Linear(3, 1)
    loss = SquaredError(1)
    before = loss.value(model(x), y, w)
    # A step size this large diverges; the starting state is kept.
    trainer = RoundTrainer(loss, epochs=3, batch_size=8, lr=1e3, weight_decay=0.0, eval_batch_size=32, device=torch.device("cpu"))
    start = {k: v.clone() for k, v in model.state_dict().items()}
    assert trainer.fit(model, [model], [model], x, y, w) == 0
    assert loss.value(model(x), y, w) <= before
    # A round that keeps its start says so (best epoch 0) and changes nothing.
    assert all(torch.equal(v, start[k]) for k, v in model.state_dict().items())


def test_trainer_stops_on_the_validation_rows_and_logs():
    x, y, w = make_problem()
    model = torch.nn.Linear(3, 1)
    logged = []
    trainer = RoundTrainer(
        SquaredError(1), epochs=50, batch_size=16, lr=0.05, weight_decay=0.0,
        eval_batch_size=32, device=torch.device("cpu"), log=lambda *row: logged.append(row),
    )
    # Validation targets unrelated to the inputs: no epoch helps, so it stops early.
    noise = torch.randn(32, 1) * 10
    best_epoch = trainer.fit(model, [model], [model], x, y, w, validation=(x[:32], noise, w[:32]))
    assert len(logged) < 50
    assert best_epoch < len(logged)
    epoch, batch_objective, monitored, improved = logged[0]
    assert epoch == 1 and math.isfinite(batch_objective) and math.isfinite(monitored)
    improved = [row[0] for row in logged if row[3]]
    assert (improved[-1] if improved else 0) == best_epoch


def test_loaded_restores_the_parameters():
    layer = torch.nn.Linear(2, 2)
    params = list(layer.parameters())
    before = [p.detach().clone() for p in params]
    zeros = [torch.zeros_like(p) for p in params]
    with loaded(params, zeros):
        assert all(torch.equal(p, z) for p, z in zip(params, zeros))
    assert all(torch.equal(p, b) for p, b in zip(params, before))


def test_trainer_keeps_the_moving_average_of_the_steps():
    x, y, w = make_problem()
    torch.manual_seed(1)
    model = torch.nn.Linear(3, 1)
    replica = torch.nn.Linear(3, 1)
    replica.load_state_dict(model.state_dict())
    loss = SquaredError(1)
    batch_size = 16
    epochs = 2
    trainer = RoundTrainer(loss, epochs=epochs, batch_size=batch_size, lr=0.05, weight_decay=0.0, eval_batch_size=32, device=torch.device("cpu"))
    torch.manual_seed(2)
    trainer.fit(model, [model], [model], x, y, w)

    # The same steps and their moving average, by hand.
    torch.manual_seed(2)
    optimizer = torch.optim.AdamW(replica.parameters(), lr=0.05, weight_decay=0.0)
    decay = 1 - 1 / (AVERAGE_SHARE * epochs * (len(x) // batch_size))
    average = [p.detach().clone() for p in replica.parameters()]
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            optimizer.zero_grad()
            loss.objective(replica(x[idx]), y[idx], w[idx]).backward()
            optimizer.step()
            average = [decay * a + (1 - decay) * p.detach() for a, p in zip(average, replica.parameters())]
    # Each epoch lowers the objective here, so the last epoch's average is what
    # is kept, not the last step's parameters.
    for kept, expected, last in zip(model.parameters(), average, replica.parameters()):
        torch.testing.assert_close(kept.detach(), expected)
        assert not torch.allclose(kept, last)
