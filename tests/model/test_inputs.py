"""HybridLM refuses what it cannot compute: bad ids, counts, caches and oversized decode caches
are TypeErrors or ValueErrors that name the argument, never an IndexError from inside torch."""

from __future__ import annotations

import pytest
import torch
from helpers import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

import hybridlab
from hybridlab.model import DEFAULT_MAX_CACHE_BYTES, HybridLM

V = 32
SPECS = {
    "hybrid": "ssd(d_state=8, headdim=8), attn(heads=2), scan(d_state=4), mlp(hidden=32)",
    "transformer": "attn(heads=2), mlp(hidden=32)",
    "windowed": "attn(heads=2, window=3), ssd(d_state=4, headdim=8)",
}
MODELS: dict[str, HybridLM] = {}


def model(name: str = "hybrid") -> HybridLM:
    """A tiny model per spec, built once (hypothesis examples share it; it is only read)."""
    if name not in MODELS:
        torch.manual_seed(0)
        MODELS[name] = hybridlab.build_model(SPECS[name], d_model=16, vocab_size=V).eval()
    return MODELS[name]


def ids(*shape: int, dtype: torch.dtype = torch.long) -> torch.Tensor:
    return torch.randint(0, V, shape, dtype=dtype)


# The sweep of issue 14, one named case each: (call, error type, words the message must hold).
BAD_CALLS = [
    pytest.param(
        lambda m: m.generate(ids(5), 2),
        ValueError,
        r"ids\[None\] \(shape \(1, 5\)\)",
        id="1d-prompt",
    ),
    pytest.param(lambda m: m(ids(5)), ValueError, r"shape \(batch, length\)", id="1d-forward"),
    pytest.param(lambda m: m.generate(ids(1, 2, 3), 2), ValueError, r"\(1, 2, 3\)", id="3d-prompt"),
    pytest.param(lambda m: m(ids(1, 2, 3)), ValueError, r"ids must have shape", id="3d-forward"),
    pytest.param(
        lambda m: m.generate(torch.tensor([[1, V]]), 2),
        ValueError,
        rf"\[0, {V}\), got {V} at ids\[0, 1\]",
        id="out-of-vocab-prompt",
    ),
    pytest.param(
        lambda m: m(torch.tensor([[3, 1], [-1, 2]])),
        ValueError,
        r"got -1 at ids\[1, 0\]",
        id="negative-id-forward",
    ),
    pytest.param(
        lambda m: m.generate(ids(2, 0), 2),
        ValueError,
        r"ids is empty \(shape \(2, 0\)\)",
        id="empty",
    ),
    pytest.param(lambda m: m(ids(0, 3)), ValueError, r"ids is empty", id="empty-batch"),
    pytest.param(lambda m: m(ids(2, 3).float()), TypeError, r"got torch.float32", id="float-ids"),
    pytest.param(lambda m: m(ids(2, 3).bool()), TypeError, r"got torch.bool", id="bool-ids"),
    pytest.param(lambda m: m(ids(2, 3).short()), TypeError, r"got torch.int16", id="int16-ids"),
    pytest.param(lambda m: m([[1, 2]]), TypeError, r"ids must be a torch.Tensor", id="list-ids"),
    pytest.param(
        lambda m: m(ids(2, 3).to("meta")), ValueError, r"ids is on meta but the model", id="device"
    ),
    pytest.param(
        lambda m: m.generate(ids(1, 2), 2.5), TypeError, r"max_new_tokens.*2\.5", id="new-2.5"
    ),
    pytest.param(
        lambda m: m.generate(ids(1, 2), "3"), TypeError, r"max_new_tokens.*'3'", id="new-str"
    ),
    pytest.param(
        lambda m: m.generate(ids(1, 2), None), TypeError, r"max_new_tokens.*None", id="new-none"
    ),
    pytest.param(
        lambda m: m.generate(ids(1, 2), True), TypeError, r"max_new_tokens.*True", id="new-bool"
    ),
    pytest.param(
        lambda m: m.generate(ids(1, 2), -1),
        ValueError,
        r"max_new_tokens must be >= 0",
        id="new-neg",
    ),
    pytest.param(
        lambda m: m.generate(ids(1, 2), 2, max_cache_bytes=0),
        ValueError,
        r"max_cache_bytes must be >= 1",
        id="limit-0",
    ),
    pytest.param(
        lambda m: m.generate(ids(1, 2), 2, max_cache_bytes="4GB"),
        TypeError,
        r"max_cache_bytes.*'4GB'",
        id="limit-str",
    ),
    pytest.param(
        lambda m: m.step(ids(2, 1), m.allocate_cache(2, 4)),
        ValueError,
        r"ids must have shape \(batch,\)",
        id="step-2d",
    ),
    pytest.param(
        lambda m: m(ids(3, 2), m.allocate_cache(2, 4)),
        ValueError,
        r"ids hold 3 sequences but the cache was allocated for 2",
        id="cache-batch",
    ),
    pytest.param(
        lambda m: m(ids(2, 2), {"pos": 0}),
        TypeError,
        r"cache must be a ModelCache",
        id="cache-dict",
    ),
    pytest.param(
        lambda m: m.allocate_cache(2, 2.5), TypeError, r"max_len.*2\.5", id="allocate-float"
    ),
    pytest.param(lambda m: m.allocate_cache(0, 4), ValueError, r"batch must be >= 1", id="batch-0"),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_CALLS)
def test_bad_arguments_are_named_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(model())


# A decoding cache must fit the model: a dtype the kernels compute with, the model's device,
# and the layers of the model's spec (issue 25's sweep: an int64 cache decoded attention wrong,
# device="cuda" without CUDA was an AssertionError, another model's cache failed deep inside).
NOT_CACHE_DTYPES = [
    torch.float64,
    torch.int64,
    torch.int32,
    torch.int16,
    torch.int8,
    torch.uint8,
    torch.bool,
    torch.complex64,
]


@pytest.mark.parametrize("dtype", NOT_CACHE_DTYPES, ids=str)
def test_a_cache_dtype_the_kernels_do_not_take_is_refused(dtype):
    with pytest.raises(ValueError, match=rf"dtype must be a floating dtype .* got {dtype}"):
        model().allocate_cache(2, 4, dtype=dtype)
    with pytest.raises(ValueError, match=rf"got {dtype}"):
        model().cache_bytes(2, 4, dtype=dtype)


@pytest.mark.parametrize("dtype", ["bf16", 2, float], ids=["name", "bytes", "python-float"])
def test_a_cache_dtype_that_is_no_torch_dtype_is_a_type_error(dtype):
    with pytest.raises(TypeError, match=r"dtype must be a torch.dtype"):
        model().allocate_cache(2, 4, dtype=dtype)


@pytest.mark.parametrize(
    ("device", "error", "message"),
    [
        pytest.param("cuda", ValueError, r"must be on the model's device, cpu", id="cuda"),
        pytest.param("meta", ValueError, r"device='meta'", id="meta"),
        pytest.param("gpu", TypeError, r"device must be a torch.device", id="unknown-name"),
        pytest.param(2.5, TypeError, r"got 2.5 \(float\)", id="float"),
    ],
)
def test_a_cache_off_the_model_device_is_refused(device, error, message):
    with pytest.raises(error, match=message):
        model().allocate_cache(2, 4, device=device)


@settings(max_examples=20, deadline=None)
@given(
    other=st.sampled_from(["transformer", "windowed"]),
    use=st.sampled_from(["forward", "step", "decode"]),
)
def test_a_cache_of_another_spec_is_refused_where_it_enters(other, use):
    cache = model(other).allocate_cache(2, 4)
    calls = {
        "forward": lambda m: m(ids(2, 2), cache),
        "step": lambda m: m.step(ids(2), cache),
        "decode": lambda m: m.decode(ids(2), cache, 1),
    }
    with pytest.raises(ValueError, match=r"cache was allocated by a model of another spec"):
        calls[use](model("hybrid"))


def test_a_cache_of_an_equal_spec_fits():
    torch.manual_seed(1)
    twin = hybridlab.build_model(SPECS["hybrid"], d_model=16, vocab_size=V).eval()
    cache = twin.allocate_cache(2, 4)
    assert model("hybrid")(ids(2, 3), cache).shape == (2, 3, V)


def test_an_oversized_decode_cache_is_refused_before_it_is_allocated():
    """The sweep's `generate(ids, max_new_tokens=10**8)` on an attention model."""
    m = model("transformer")
    needed = m.cache_bytes(1, 2 + 10**8)
    assert needed > DEFAULT_MAX_CACHE_BYTES
    with pytest.raises(ValueError, match=r"max_cache_bytes=4,294,967,296") as err:
        m.generate(ids(1, 2), max_new_tokens=10**8)
    assert f"pass max_cache_bytes={needed} or more (None for no limit)" in str(err.value)
    assert "GiB decode cache" in str(err.value)


@pytest.mark.parametrize("name", list(SPECS))
def test_the_limit_is_the_exact_cache_size(name):
    m = model(name)
    prompt = ids(2, 3)
    needed = m.cache_bytes(2, 3 + 4)
    assert needed == m.allocate_cache(2, 7).nbytes()
    assert m.generate(prompt, 4, max_cache_bytes=needed).shape == (2, 7)
    assert m.generate(prompt, 4, max_cache_bytes=None).shape == (2, 7)
    with pytest.raises(ValueError, match=f"pass max_cache_bytes={needed} or more"):
        m.generate(prompt, 4, max_cache_bytes=needed - 1)


def test_generate_keeps_the_prompt_dtype_and_zero_new_tokens_is_the_prompt():
    prompt = ids(2, 3, dtype=torch.int32)
    out = model().generate(prompt, 2)
    assert out.dtype == torch.int32 and out.shape == (2, 5)
    same = model().generate(prompt, 0)
    assert torch.equal(same, prompt) and same.data_ptr() != prompt.data_ptr()


# Property tests: drawn bad inputs give the named error; drawn good inputs decode consistently.

BAD_DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.bool, torch.uint8, torch.int16]


@settings(max_examples=25, deadline=None)
@given(
    dtype=st.sampled_from(BAD_DTYPES),
    shape=st.tuples(st.integers(1, 3), st.integers(1, 6)),
    via_generate=st.booleans(),
)
def test_any_non_integer_dtype_is_a_type_error(dtype, shape, via_generate):
    bad = torch.zeros(shape, dtype=dtype)
    with pytest.raises(TypeError, match=rf"ids must hold integer token ids .* got {dtype}"):
        model().generate(bad, 1) if via_generate else model()(bad)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 3), min_size=0, max_size=4).filter(lambda s: len(s) != 2))
def test_any_rank_but_two_is_refused_with_the_expected_shape(shape):
    with pytest.raises(ValueError, match=r"ids must have shape \(batch, length\), got shape"):
        model()(torch.zeros(shape, dtype=torch.long))


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    shape=st.tuples(st.integers(1, 3), st.integers(1, 6)),
    bad=st.one_of(st.integers(-(2**40), -1), st.integers(V, 2**40)),
    dtype=st.sampled_from([torch.int64, torch.int32]),
)
def test_any_out_of_vocab_id_is_named_with_its_position(data, shape, bad, dtype):
    if dtype is torch.int32:
        bad = max(min(bad, 2**31 - 1), -(2**31))
    b = data.draw(st.integers(0, shape[0] - 1), label="b")
    t = data.draw(st.integers(0, shape[1] - 1), label="t")
    x = ids(*shape, dtype=dtype)
    x[b, t] = bad
    with pytest.raises(ValueError, match=rf"\[0, {V}\), got {bad} at ids\[{b}, {t}\]"):
        model().generate(x, 1)


@settings(max_examples=40, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=4),
        st.none(),
        st.booleans(),
        st.lists(st.integers(0, 3), max_size=2),
        st.integers(max_value=-1),
    )
)
def test_any_bad_max_new_tokens_is_named(value):
    with pytest.raises((TypeError, ValueError), match=r"max_new_tokens must be"):
        model().generate(ids(1, 2), value)


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(
    name=st.sampled_from(list(SPECS)),
    batch=st.integers(1, 3),
    prompt_len=st.integers(1, 7),
    num_new=st.integers(0, 6),
    dtype=st.sampled_from([torch.int64, torch.int32]),
    seed=st.integers(0, 2**16),
)
def test_generate_on_valid_inputs_matches_a_full_forward(
    name, batch, prompt_len, num_new, dtype, seed
):
    """Shape, dtype and range of the output; then the decode logits of the generated sequence
    (prefill, then one step per token) pick every generated token and equal a full forward.
    About 4 s on 2 busy cores."""
    m = model(name)
    prompt = torch.randint(0, V, (batch, prompt_len), generator=torch.Generator().manual_seed(seed))
    prompt = prompt.to(dtype)
    out = m.generate(prompt, num_new)
    total = prompt_len + num_new
    assert out.shape == (batch, total) and out.dtype == dtype
    assert torch.equal(out[:, :prompt_len], prompt)
    assert int(out.min()) >= 0 and int(out.max()) < V
    with torch.no_grad():
        cache = m.allocate_cache(batch, total)
        decoded = [m(out[:, :prompt_len], cache)]
        decoded += [m.step(out[:, t], cache)[:, None] for t in range(prompt_len, total)]
        decoded_BTV = torch.cat(decoded, dim=1)
        full_BTV = m(out)
    for t in range(prompt_len, total):
        assert torch.equal(decoded_BTV[:, t - 1].argmax(-1), out[:, t].long()), f"token {t}"
    assert_close(decoded_BTV, full_BTV, rel_rms=1e-4, name="decode logits")
