"""What each image runs: its tag's staged program directory (the image's `/opt/program`), registered at
provisioning, so a job or an endpoint imports `container` and `contract` from what the image holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from local.engines.sagemaker.common import REPO_ROOT


@dataclass
class Images:
    """Image tag -> the image's program directory (`container/` and `contract/`, staged by the synth as the image
    asset's build context), registered by the provisioner (`register`)."""

    programs: dict[str, Path] = field(default_factory=dict)

    def register(self, tag: str, program_dir: Path) -> None:
        """What an image tagged `tag` runs: the code under `program_dir`, laid out as the image's `/opt/program`."""
        self.programs[tag] = Path(program_dir)

    def program_dir(self, image: str) -> Path:
        """The image's `/opt/program` (its WORKDIR and PYTHONPATH): the registered asset of the image's tag. An
        engine no stack registered images with (the engine's own tests) runs the repository's tree."""
        name = image.rsplit("/", 1)[-1]
        tag = name.rsplit(":", 1)[-1] if ":" in name else ""
        return self.programs.get(tag, REPO_ROOT)
