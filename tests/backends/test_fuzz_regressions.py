"""Graphs on which ``staticad fuzz`` found numba and numpy disagreeing (fixed since)."""
from staticad.fuzz import check

# found by `staticad fuzz` (seed 100514): `NameError: name 'maximum_5' is not defined` (numba:
# NotDefinedError). A value fused into one kernel and recomputed in another was read by a third
# kernel that had it neither in registers nor in memory: a reader computed in several kernels
# counted as "computes it" when any one of them did, instead of all of them.
SEED_100514 = ([(4, 3)], [
    ('b', 629145, 658502), ('w', 119333, 305487), ('b', 578798, 608331), ('u', 557451, 11808),
    ('r', 533496, 853372), ('c', 650418, 261602), ('u', 572777, 320640), ('u', 559382, 253320),
    ('b', 367604, 140323), ('m', 844427, 882328), ('m', 291563, 367702), ('u', 681114, 737452),
    ('c', 430168, 363712), ('b', 605480, 965707), ('r', 675874, 222260), ('b', 138881, 559539),
    ('c', 650905, 732010), ('u', 944911, 116497), ('r', 198315, 456653), ('u', 256898, 111320),
    ('w', 17783, 917754), ('r', 58833, 999692), ('m', 698177, 346555), ('u', 240599, 435543),
    ('c', 285873, 620003), ('u', 620297, 670926), ('b', 951203, 787834)])


def test_fuzz_seed_100514():
    assert check([SEED_100514]) is None
