"""The shared status base: every area's status is a pdeflow.status.Status."""

import pickle

import pytest

from pdeflow.solvers import SolveStatus
from pdeflow.solvers.ode import ODEStatus
from pdeflow.solvers.optim import OptimStatus
from pdeflow.status import Status
from pdeflow.symbolic.egraph import StopReason

AREAS = [SolveStatus, ODEStatus, OptimStatus, StopReason]


@pytest.mark.parametrize("enum_cls", AREAS, ids=lambda c: c.__name__)
def test_every_area_extends_the_base(enum_cls):
    assert issubclass(enum_cls, Status)
    for member in enum_cls:
        assert member.code == int(member)
        assert member.converged == (member.code > 0)
        assert isinstance(member.message, str) and member.message
        assert member.describe() == f"{member.name} ({member.code}): {member.message}"
        assert pickle.loads(pickle.dumps(member)) is member
        assert enum_cls(member.code) is member
    # every area has at least one success and one failure, and failures say what to do
    assert any(m.converged for m in enum_cls) and any(not m.converged for m in enum_cls)


def test_messages_say_what_to_do():
    assert "increase max_iter" in SolveStatus.DIVERGED_ITS.message
    assert "max_steps" in ODEStatus.MAX_STEPS.message
    assert "raise Limits.nodes" in StopReason.NODE_LIMIT.message
    assert "increase max_iter" in OptimStatus.MAX_ITER.message


def test_egraph_stop_reason_codes():
    # saturation is the only converged stop; hitting a limit is not
    assert StopReason.SATURATED.converged
    assert [m.code for m in StopReason if not m.converged] == [-1, -2, -3]


def test_a_new_area_gets_code_converged_and_message():
    class Fit(Status):
        DONE = 2, "converged"
        STALLED = -1, "stalled: raise max_iter"

    assert Fit.DONE.converged and not Fit.STALLED.converged
    assert Fit(-1).message == "stalled: raise max_iter"
    with pytest.raises(ValueError):
        Fit(7)
