"""Members: seeds × learning rates of one architecture trained together as one model.

    from hybridlab.train.members import member_grid, train_members
    results = train_members(spec, task, config, member_grid(seeds=[0, 1], lrs=[3e-3, 1e-2]))

Each member's `TrainResult` equals the lone `train_proxy` run with its seed and rate (to float32
tolerance); the group pays one forward, backward and optimizer step per training step for all
of them (`trainer`, `stack` for the member-stacked forward, `optim` for the stacked AdamW).
"""

from hybridlab.train.members.seeded import train_seeded
from hybridlab.train.members.stack import STACKED_KINDS, MemberStack
from hybridlab.train.members.trainer import Member, MemberReport, member_grid, train_members

__all__ = [
    "STACKED_KINDS",
    "Member",
    "MemberReport",
    "MemberStack",
    "member_grid",
    "train_members",
    "train_seeded",
]
