"""Behaviour every algorithm of the package shares, tested over the list of algorithms (as sb3-contrib's
``MODEL_LIST``): runs with each actor and option, vec envs, save/load of the model and the policy, rl-zoo3's
enjoy, the analyses and test-time objectives; and the analyses on stock agents of the family (SAC, TQC,
CrossQ). Same seed, same run is in test_deterministic.py, the networks' modes in test_train_eval_mode.py, both over
``MODEL_LIST`` too. What only one algorithm has lives in its own module (test_iterative_tqc.py,
test_iterative_crossq.py; IterativeSAC's options in test_run.py, test_save_load.py, ...)."""

import numpy as np
import pytest
import torch as th
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import SAC
from stable_baselines3.common.env_util import make_vec_env

from sb3_iterative import IterativeCrossQ, IterativeSAC, IterativeTQC, analysis, critics
from sb3_iterative.analyze import load_model
from sb3_iterative.common import amortizers
from sb3_iterative.common.iterative_actor import IterativeActor

from helpers import MODEL_LIST, POLICY_KWARGS, make_model, observations, recording_logger

ENV = "Pendulum-v1"
# rl-zoo3's name of each
ZOO_NAMES = {IterativeSAC: "iterative_sac", IterativeTQC: "iterative_tqc", IterativeCrossQ: "iterative_crossq"}
# The stock agents of the family the analyses read, with the same small networks
STOCK_LIST = {
    SAC: dict(net_arch=[32, 32]),
    TQC: dict(net_arch=[32, 32], n_quantiles=5),
    CrossQ: dict(net_arch=dict(pi=[32, 32], qf=[64, 64])),
}
# The β each stock agent's actor maximizes J with (acting), and the β of its critics' target
STOCK_BETAS = {SAC: (1.0, 1.0), TQC: (0.0, 2.0), CrossQ: (1.0, 1.0)}


def assert_same_parameters(first, second):
    """The same parameters in two models' (or policies') policies."""
    first_state, second_state = (getattr(each, "policy", each).state_dict() for each in (first, second))
    assert first_state.keys() == second_state.keys()
    for key in first_state:
        assert th.equal(first_state[key].cpu(), second_state[key].cpu()), key


@pytest.mark.parametrize("algorithm", MODEL_LIST)
@pytest.mark.parametrize("actor", ["iterative", "direct", "flow"])
def test_run(algorithm, actor, device):
    if actor == "flow" and algorithm is IterativeCrossQ:
        with pytest.raises(ValueError, match="actor must be 'iterative' or 'direct' for IterativeCrossQPolicy"):
            make_model(algorithm, actor=actor)
        return
    model = make_model(algorithm, actor=actor, device=device).learn(120)
    assert model._n_updates == 70
    assert isinstance(model.actor, IterativeActor) == (actor == "iterative")
    for name, parameter in model.policy.named_parameters():
        assert parameter.device.type == device, name
        assert th.isfinite(parameter).all(), name
    actions, _ = model.predict(observations(model, seed=0), deterministic=True)
    assert actions.shape == (8, 1) and np.all(np.abs(actions) <= 2.0)


@pytest.mark.parametrize("algorithm", MODEL_LIST)
@pytest.mark.parametrize(
    "options",
    [
        dict(n_action_samples=3),
        dict(warm_start=True, n_iterations=2),
        dict(distilled_target=True),
        dict(init_mu_std=1.0, gradient_magnitude=True, residual_update=True),
    ],
    ids=["N=3", "warm_start", "distilled_target", "levers"],
)
def test_iterative_options(algorithm, options):
    """N > 1 action samples, a warm start, the distilled target and the optimizer's levers train on every base."""
    model = make_model(algorithm, **options).learn(100)
    assert model._n_updates == 50
    if options.get("warm_start") or options.get("distilled_target"):
        assert model.policy.distilled_policy is not None
    actions, _ = model.predict(observations(model, seed=0), deterministic=True)
    assert np.isfinite(actions).all()


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_vec_env(algorithm):
    env = make_vec_env(ENV, n_envs=2, seed=0)
    model = make_model(algorithm, env=env).learn(120)
    assert model.num_timesteps == 120
    assert model.replay_buffer.size() == 60 and model.replay_buffer.n_envs == 2
    # one gradient step per vectorized step after learning_starts: steps 52, 54, ..., 120
    assert model._n_updates == 35
    actions, _ = model.predict(env.reset(), deterministic=True)
    assert actions.shape == (2, 1) and np.abs(actions).max() <= 2.0


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_save_load(tmp_path, algorithm, device):
    model = make_model(algorithm, device=device).learn(100)
    obs = observations(model, seed=0)
    before, _ = model.predict(obs, deterministic=True)
    model.policy.n_iterations = 7  # a test-time K survives
    model.save(tmp_path / "model.zip")
    loaded = algorithm.load(tmp_path / "model.zip", device=device)
    assert type(loaded) is algorithm and loaded.policy.n_iterations == 7 and loaded.beta == model.beta
    loaded.policy.n_iterations = 5
    after, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(before, after)
    assert_same_parameters(model, loaded)
    loaded.set_env(make_vec_env(ENV, n_envs=1, seed=1))
    loaded.learn(20, reset_num_timesteps=False)
    assert loaded._n_updates > model._n_updates


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_model_saved_on_one_device_loads_on_the_other(tmp_path, algorithm, device, other_device):
    model = make_model(algorithm, device=device).learn(100)
    model.save(tmp_path / "model.zip")
    loaded = algorithm.load(tmp_path / "model.zip", device=other_device)
    assert all(parameter.device.type == other_device for parameter in loaded.policy.parameters())
    assert_same_parameters(model, loaded)
    # deterministic acting draws from a generator of the device: the same action on the same device only
    actions, _ = loaded.predict(observations(model, seed=0), deterministic=True)
    assert actions.shape == (8, 1) and np.isfinite(actions).all()
    loaded.set_env(make_vec_env(ENV, n_envs=1, seed=1))
    loaded.learn(20, reset_num_timesteps=False)  # its optimizers' states came along to the other device
    assert loaded._n_updates > model._n_updates


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_save_load_policy(tmp_path, algorithm):
    beta_collect = 1 if algorithm is IterativeTQC else 0.5  # TQC's: a count of dropped quantiles
    model = make_model(algorithm, n_action_samples=2, beta_collect=beta_collect).learn(100)
    model.policy.n_iterations = 7
    obs = observations(model, seed=0)
    before, _ = model.predict(obs, deterministic=True)
    model.policy.save(tmp_path / "policy.pth")
    policy = type(model.policy).load(tmp_path / "policy.pth", device="cpu")
    assert (policy.n_iterations, policy.options.n_action_samples, policy.beta_collect) == (7, 2, beta_collect)
    assert_same_parameters(model, policy)
    after, _ = policy.predict(obs, deterministic=True)
    np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_enjoy_loads_with_a_small_replay_buffer(tmp_path, algorithm):
    make_model(algorithm).learn(60).save(tmp_path / "model.zip")
    from sb3_iterative import zoo  # rl-zoo3 where it is used: the GPU check carries no rl-zoo3

    loaded = zoo.EnjoyLoader(zoo.ALGORITHMS[ZOO_NAMES[algorithm]]).load(tmp_path / "model.zip", device="cpu")
    assert type(loaded) is algorithm and loaded.replay_buffer.buffer_size == 1


def _change_critics(model, change):
    """One kind of in-place change of the online critics, as a user's code, a callback or an analysis makes it."""
    critic = model.policy.critic
    linears = [module for q_net in critic.q_networks for module in q_net.modules() if isinstance(module, th.nn.Linear)]
    generator = th.Generator().manual_seed(3)
    if change == "edited under no_grad":  # the perturbation
        with th.no_grad():
            for parameter in critic.parameters():
                parameter.add_(0.05 * th.randn(parameter.shape, generator=generator).to(parameter.device))
    elif change == "an optimizer step":
        model.policy.set_training_mode(True)
        obs = th.as_tensor(observations(model, seed=0), device=model.device)
        actions = th.zeros(1, len(obs), 1, device=model.device)
        loss = -critics.EnsembleQ(critic, obs)(actions).sum()  # through the members' modules, whatever their outputs
        optimizer = th.optim.SGD(critic.parameters(), lr=0.05)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.policy.set_training_mode(False)
    elif change == "loaded":
        other = make_model(type(model), seed=1, device=model.device).learn(60)
        critic.load_state_dict(other.policy.critic.state_dict())
    elif change == "reset":
        for linear in linears:
            linear.reset_parameters()
    elif change == "a parameter replaced":
        linears[0].weight = th.nn.Parameter(linears[0].weight.detach() * 1.5)


CRITIC_CHANGES = ["edited under no_grad", "an optimizer step", "loaded", "reset", "a parameter replaced"]


@pytest.mark.parametrize("change", CRITIC_CHANGES)
@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_acting_reads_the_critics_as_they_are_after_they_change_in_place(algorithm, change, device):
    """The policy keeps its critics stacked from one predict to the next (one stacking for many acts), and checks the
    stack against the critics before each use: after any in-place change the actions are those of a policy that
    never kept a stack, and they moved."""
    model = make_model(algorithm, device=device).learn(60)
    policy, obs = model.policy, observations(model, seed=0)
    stacks = policy.estimator.stacks
    first = model.predict(obs, deterministic=True)[0]
    (kept,) = stacks._stacks.values()
    assert kept.members is not None
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], first)
    (reused,) = stacks._stacks.values()
    assert reused is kept  # the second act stacked nothing

    _change_critics(model, change)
    after = model.predict(obs, deterministic=True)[0]
    stacks.clear()
    np.testing.assert_array_equal(after, model.predict(obs, deterministic=True)[0])
    assert not np.array_equal(after, first)


def test_a_stack_checked_by_nothing_but_the_critic_would_serve_stale_actions(monkeypatch):
    """Negative control of the test above: with a fingerprint blind to the tensors, the issue's perturbation leaves
    the deterministic actions exactly as they were."""
    model = make_model(IterativeSAC).learn(60)
    obs = observations(model, seed=0)
    first = model.predict(obs, deterministic=True)[0]
    monkeypatch.setattr(critics, "_fingerprint", lambda critic, n_features, tensors: (n_features,))
    model.predict(obs, deterministic=True)
    _change_critics(model, "edited under no_grad")
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], first)


@pytest.mark.parametrize(
    "algorithm, policy_kwargs", [(IterativeSAC, {}), (IterativeTQC, {}), (IterativeSAC, dict(value_estimator="model"))]
)
def test_gradient_step_waits_for_no_device_on_cuda(algorithm, policy_kwargs):
    """No host synchronization inside a gradient step: logs and checks are read once per train() call, the model's
    predictions included. CrossQ is left out: sb3-contrib's batch renormalization compares its step counter in
    Python in every training pass."""
    if not th.cuda.is_available():
        pytest.skip("CUDA is not available")
    from sb3_iterative.common.algorithm import TrainingLogs

    model = make_model(algorithm, device="cuda", **policy_kwargs).learn(60)
    replay_data = model.replay_buffer.sample(32)  # the copy to the device waits for it: before the step
    model.policy.set_training_mode(True)
    logs = TrainingLogs()
    th.cuda.synchronize()
    th.cuda.set_sync_debug_mode("error")
    try:
        for gradient_step in range(2):
            model._gradient_step(replay_data, gradient_step, logs)
    finally:
        th.cuda.set_sync_debug_mode(0)
    assert set(logs.read()) >= {"critic_loss", "actor_loss", "ent_coef"}


def test_training_compiled_with_cuda_graphs_on_cuda():
    """compile_training="reduce-overhead" (CUDA graphs): several gradient steps in one train() call, each step's logs
    kept apart from the graphs' memory, which the next replay overwrites."""
    if not th.cuda.is_available():
        pytest.skip("CUDA is not available")
    model = IterativeSAC(
        "MlpPolicy", ENV, learning_starts=50, batch_size=32, seed=0, device="cuda",
        policy_kwargs=POLICY_KWARGS[IterativeSAC], compile_training="reduce-overhead",
    )  # fmt: skip
    recorder = recording_logger(model)
    model.learn(50)
    model.train(3, batch_size=32)
    model.logger.dump(0)
    losses = recorder.values["train/critic_loss"]
    assert model._n_updates == 3 and len(losses) == 1 and np.isfinite(losses[0]) and losses[0] > 0
    assert all(th.isfinite(parameter).all() for parameter in model.policy.parameters())


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_compiled_training_matches_eager_training(tmp_path, algorithm):
    """compile_training: each gradient step's updates through torch.compile give eager's losses and parameters (within
    float tolerance: the random draws are eager's); the option survives save/load, and the loaded model compiles anew."""
    graphs = th._dynamo.utils.counters["stats"]["unique_graphs"]
    models = {}
    for compiled in (False, True):
        model = algorithm(
            "MlpPolicy", ENV, learning_starts=50, batch_size=32, seed=0, device="cpu",
            policy_kwargs=POLICY_KWARGS[algorithm], compile_training=compiled,
        )  # fmt: skip
        model.learn(50)  # the buffer, no training yet
        recorder = recording_logger(model)
        np.random.seed(1)  # the replay samples (SB3 draws them from numpy's global state)
        th.manual_seed(1)
        model.train(3, batch_size=32)  # three steps: CrossQ's critics alone twice, its actor on the third
        model.logger.dump(0)
        models[compiled] = (model, recorder)
    (eager, eager_logs), (compiled, compiled_logs) = models[False], models[True]
    assert compiled._compiled_update is not None and eager._compiled_update is None
    assert th._dynamo.utils.counters["stats"]["unique_graphs"] > graphs  # compiled, not fallen back to eager
    for key in ("train/critic_loss", "train/actor_loss", "train/ent_coef_loss"):
        np.testing.assert_allclose(compiled_logs.values[key], eager_logs.values[key], rtol=1e-4, err_msg=key)
    for key, value in eager.policy.state_dict().items():
        th.testing.assert_close(compiled.policy.state_dict()[key], value, rtol=1e-4, atol=1e-5, msg=key)

    compiled.save(tmp_path / "model.zip")
    loaded = algorithm.load(tmp_path / "model.zip", env=make_vec_env(ENV, n_envs=1, seed=1), device="cpu")
    assert loaded.compile_training is True and loaded._compiled_update is not compiled._compiled_update
    loaded.learn(10, reset_num_timesteps=False)
    assert loaded._n_updates == compiled._n_updates + 10


def test_compiled_training_follows_a_learning_rate_schedule_without_recompiling():
    """compile_training with a schedule: the rate reaches the compiled optimizer steps as a tensor filled in place, so a
    train() call at another rate compiles nothing new (as a Python float it recompiled them at every call), and the
    parameters follow eager's under the same schedule."""
    counters = th._dynamo.utils.counters["stats"]
    models = {}
    for compiled in (False, True):
        model = IterativeSAC(
            "MlpPolicy", ENV, learning_starts=50, batch_size=32, seed=0, device="cpu", learning_rate=lambda p: 3e-3 * p,
            policy_kwargs=POLICY_KWARGS[IterativeSAC], compile_training=compiled,
        )  # fmt: skip
        model.learn(50)
        np.random.seed(1)
        th.manual_seed(1)
        for call, progress in enumerate((1.0, 0.5, 0.25)):
            model._current_progress_remaining = progress
            model.train(2, batch_size=32)
            if compiled and call == 0:
                graphs = counters["unique_graphs"]
        models[compiled] = model
    assert counters["unique_graphs"] == graphs  # the later rates compiled nothing
    for optimizer in (models[True].actor.optimizer, models[True].critic.optimizer, models[True].ent_coef_optimizer):
        assert float(optimizer.param_groups[0]["lr"]) == pytest.approx(3e-3 * 0.25)
    for key, value in models[False].policy.state_dict().items():
        th.testing.assert_close(models[True].policy.state_dict()[key], value, rtol=1e-4, atol=1e-5, msg=key)


def moved(before: list[th.Tensor], module: th.nn.Module) -> bool:
    """Whether any parameter of ``module`` differs from its copy in ``before``."""
    return any(not th.equal(copy, parameter) for copy, parameter in zip(before, module.parameters(), strict=True))


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_the_actor_trains_every_policy_delay_th_gradient_step(algorithm):
    """_trains_actor says which gradient steps train the actor and α, and those steps alone move them; the critics
    train at every step."""
    model = make_model(algorithm).learn(50)  # the buffer, no training yet
    delay = getattr(model, "policy_delay", 1)  # CrossQ's (3 by default); SAC and TQC train the actor at every step
    expected, trained = [], []
    for update in range(1, 3 * delay + 2):
        actor = [parameter.clone() for parameter in model.actor.parameters()]
        critic = [parameter.clone() for parameter in model.critic.parameters()]
        log_ent_coef = model.log_ent_coef.clone()
        model.train(1, batch_size=32)
        assert model._n_updates == update
        expected.append(update % delay == 0)
        assert model._trains_actor() == expected[-1]
        actor_moved = moved(actor, model.actor)
        assert actor_moved == (not th.equal(log_ent_coef, model.log_ent_coef)), update
        assert moved(critic, model.critic), update
        trained.append(actor_moved)
    assert trained == expected and any(trained)


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_perturbed_objectives_change_the_actors_step_alone(algorithm):
    """objective_perturbation perturbs the J the actor optimizes and is trained on, drawn after the critics' step:
    one gradient step from the same state leaves the critics as without it and moves the actor elsewhere."""
    models = []
    for perturbation in (0.0, 100.0):
        model = make_model(algorithm, objective_perturbation=perturbation).learn(50)  # the buffer, no training yet
        model._n_updates = getattr(model, "policy_delay", 1) - 1  # the next update trains the actor (CrossQ's too)
        model.train(1, batch_size=32)
        models.append(model)
    plain, perturbed = models
    assert not moved(list(plain.critic.parameters()), perturbed.critic)
    assert moved(list(plain.actor.parameters()), perturbed.actor)
    assert plain.logger.name_to_value["train/actor_loss"] < perturbed.logger.name_to_value["train/actor_loss"] - 10


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_training_the_target_acting_and_the_analyses_enter_algorithm_2_through_the_amortizer(algorithm, monkeypatch):
    """One entry into the iterative optimizer: a gradient step (the actor's iterations and the critic target's),
    an act and an analysis each ask the policy's amortizer for λ_0 (a warm start's, here) once."""
    model = make_model(algorithm, warm_start=True).learn(60)
    amortizer = model.policy.amortizer
    assert isinstance(amortizer, amortizers.IterativeAmortizer) and model.policy.amortizer.n_estimates == 5
    starts = []
    initial = amortizer.initial
    monkeypatch.setattr(amortizer, "initial", lambda obs: starts.append(len(obs)) or initial(obs))
    model._n_updates = 2  # the next is the third update: it trains the actor, CrossQ's delayed one too (policy_delay 3)
    model.train(1, batch_size=16)
    assert starts == [16, 16]
    model.predict(observations(model, 3, seed=0), deterministic=True)
    assert starts[2:] == [3]
    analysis.amortization_gap(model, observations(model, 4, seed=0), n_steps=2)
    assert starts[3:] == [4]


@pytest.mark.parametrize("algorithm", MODEL_LIST)
@pytest.mark.parametrize("actor", ["direct", "flow"])
def test_a_direct_actor_reads_no_objective_and_draws_noise_for_its_one_sample(algorithm, actor):
    """A direct (or flow) actor behind the same interface: one λ = f_φ(s) whatever J, the noise plan's one slice."""
    if actor == "flow" and algorithm is not IterativeSAC:
        pytest.skip("the flow baseline is SAC's actor")
    model = make_model(algorithm, actor=actor)
    amortizer = model.policy.amortizer
    assert not amortizer.reads_objective and amortizer.n_estimates == 0
    assert model.policy.sample_noise(4).shape[0] == 1
    obs = th.as_tensor(observations(model, 4, seed=0))
    trace = amortizer.trace(obs, None, 0.1, 1.0)
    assert len(trace.lambdas) == 1 and trace.first_trained == 0 and not trace.estimates
    assert (amortizer.direct_policy is model.policy.actor) == (actor == "direct")


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_analyses_and_changed_objectives(algorithm):
    """The paper's analyses and test-time objectives take every iterative algorithm."""
    model = make_model(algorithm).learn(100)
    obs = observations(model, seed=0)
    agent = analysis.as_agent(model)
    assert agent.reads_objective and agent.pessimism is model.policy.pessimism
    gap = analysis.amortization_gap(model, obs, n_steps=20).summary()
    assert gap["n_states"] == 8 and gap["mean_optimized_objective"] >= gap["mean_amortized_objective"] - 1e-3
    assert analysis.compare_optimizers(model, obs, adam_steps=5, cem_steps=5).summary()["iterative_iterations"] == 5
    curve = analysis.improvement_per_iteration(model, obs, n_iterations=7).summary()
    assert curve["trained_iterations"] == 5 and len(curve["mean_objective"]) == 8

    changed = analysis.ChangedObjective(model, term=analysis.action_energy_penalty(100.0))
    own, _ = model.predict(obs, deterministic=True)
    penalized, _ = changed.predict(obs, deterministic=True)
    # the optimizer reads ∇_λ of the changed J (whether it follows it far is measured in BENCHMARKS.md)
    assert np.abs(penalized - own).max() > 1e-3
    moved = analysis.transfer_optimizer(model, make_model(algorithm, seed=1))
    assert np.isfinite(moved.predict(obs, deterministic=True)[0]).all()


@pytest.mark.parametrize("algorithm", list(STOCK_LIST))
def test_analyses_of_stock_agents(tmp_path, algorithm):
    """A stock SAC, TQC or CrossQ agent: J is its actor's objective (its pessimism and β), its λ its actor's."""
    model = algorithm(
        "MlpPolicy", ENV, learning_starts=50, batch_size=32, seed=0, device="cpu", policy_kwargs=STOCK_LIST[algorithm]
    ).learn(100)
    obs = observations(model, seed=0)
    agent = analysis.as_agent(model)
    assert not agent.reads_objective and agent.actor == "direct"
    assert (agent.beta, agent.training_beta) == STOCK_BETAS[algorithm]
    gap = analysis.amortization_gap(model, obs, n_steps=20)
    assert gap.summary()["mean_optimized_objective"] >= gap.summary()["mean_amortized_objective"] - 1e-3
    # the amortized λ is the actor's own (CrossQ's with its running statistics: acting's)
    mu, _, _ = model.policy.actor.get_action_dist_params(model.policy.obs_to_tensor(obs)[0])
    np.testing.assert_allclose(gap.amortized_mu, mu.detach().numpy(), rtol=0, atol=1e-6)
    assert analysis.value_bias(model, ENV, n_pairs=4, horizon=20).summary()["n_pairs"] == 4
    with pytest.raises(TypeError, match="A direct actor cannot act on a changed objective"):
        analysis.ChangedObjective(model, term=analysis.action_energy_penalty(1.0)).predict(obs)
    model.save(tmp_path / "model.zip")
    assert type(load_model(tmp_path / "model.zip", device="cpu")) is algorithm
