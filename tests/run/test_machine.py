"""machine_info (noisyjax.run.machine): its keys and types, read from fake /proc/cpuinfo files."""

from __future__ import annotations

import json
import platform

from noisyjax.run.machine import machine_info, read_cpuinfo

X86 = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 avx512f avx512bw avx512_vnni avx_vnni amx_tile

processor\t: 1
model name\t: Another CPU
flags\t\t: fpu sse2
"""

EPYC = """processor\t: 0
model name\t: AMD EPYC
flags\t\t: fpu sse2 sse4_1 sse4_2 fma avx avx2 f16c
"""

ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes crc32 asimdhp asimddp sve i8mm bf16
CPU implementer\t: 0x41
"""

KEYS = {"cpu_model", "isa", "xla_flags", "cores", "cpu_count", "platform", "os"}


def test_x86_model_and_isa_of_the_first_processor(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(X86)
    model, isa = read_cpuinfo(path)
    assert model == "Intel(R) Xeon(R) Processor"
    # Only the vector-instruction flags, sorted; fpu, sse2 and the second processor's are left out.
    assert isa == ["amx_tile", "avx", "avx2", "avx512_vnni", "avx512bw", "avx512f", "avx_vnni",
                   "f16c", "fma", "sse4_1", "sse4_2"]


def test_a_cpu_without_avx512(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(EPYC)
    info = machine_info(path)
    assert info["cpu_model"] == "AMD EPYC"
    assert not any(f.startswith("avx512") for f in info["isa"])
    assert {"avx2", "fma"} <= set(info["isa"])


def test_arm_features_line(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(ARM)
    model, isa = read_cpuinfo(path)
    assert model is None
    assert isa == ["asimd", "asimddp", "asimdhp", "bf16", "i8mm", "sve"]


def test_shape_and_json(tmp_path, monkeypatch):
    path = tmp_path / "cpuinfo"
    path.write_text(X86)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX2")
    info = machine_info(path)
    assert set(info) == KEYS
    assert info["xla_flags"] == "--xla_cpu_max_isa=AVX2"
    assert isinstance(info["cores"], int) and 1 <= info["cores"] <= (info["cpu_count"] or info["cores"])
    assert info["platform"] == platform.machine()
    assert json.loads(json.dumps(info)) == info  # goes into config.json as it is


def test_without_cpuinfo(tmp_path, monkeypatch):
    """macOS and Windows have no /proc/cpuinfo: the model comes from platform, isa is empty."""
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    info = machine_info(tmp_path / "missing")
    assert set(info) == KEYS
    assert info["isa"] == []
    assert info["xla_flags"] is None
    assert isinstance(info["cpu_model"], str) and info["cpu_model"]
