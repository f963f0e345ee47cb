"""The state view: named physical quantities derived from the MuJoCo model."""

from rewardsmith.state.view import Extra, Field, StateSpec, StateView, UnknownStateField

__all__ = ["Extra", "Field", "StateSpec", "StateView", "UnknownStateField"]
