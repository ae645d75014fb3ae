"""The configuration as ``GET /config`` answers it (Airflow's shape), in JSON or as text.

>>> cfg = Config(sections=[ConfigSection(name="core", options=[ConfigOption(key="a", value="1")])])
>>> print(cfg.text_format(), end="")
[core]
a = 1
"""

from __future__ import annotations

from pydantic import BaseModel


class ConfigOption(BaseModel):
    key: str
    value: str


class ConfigSection(BaseModel):
    name: str
    options: list[ConfigOption]

    def text_format(self) -> str:
        lines = [f"[{self.name}]", *(f"{o.key} = {o.value}" for o in self.options)]
        return "\n".join(lines) + "\n"


class Config(BaseModel):
    sections: list[ConfigSection]

    def text_format(self) -> str:
        """As in a configuration file, sections separated by a blank line."""
        return "\n".join(section.text_format() for section in self.sections)
