"""Printable A4 posters and code bundles for a campaign's units and windows.

One page per campaign unit: the campaign title, the unit's name, its window number,
one line of instructions, a large QR code and the short URL a person can type.

Every font is embedded (print-safe): a print shop or viewer without any Chinese font
prints the poster exactly as it looks here. Which fonts, and how ``PINGYI_POSTER_FONT``
chooses another one for the Chinese text: ``poster_pdf``.
"""
from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from survey.core.errors import DomainError
from survey.core.spreadsheets import safe_cell
from survey.models import Campaign, QuestionnaireKind
from survey.services.campaigns import lookup as campaign_service
from survey.services.campaigns import qr

__all__ = ["PosterError", "PosterSpec", "codes_zip", "font_path_from", "poster_specs", "render_pdf",
           "safe_filename"]


class PosterError(DomainError):
    """Posters cannot be made as asked (no units, unusable font …); the message says why."""


@dataclass(frozen=True)
class PosterSpec:
    """Everything printed on one poster."""

    campaign_title: str
    period: str
    unit_code: str
    unit_name: str
    window_no: str | None
    code: str
    url: str
    appraisal: bool = False  # 万人评议: the respondent rates the units they know, not one visit


def poster_specs(
    session: Session, campaign: Campaign, base_url: str, unit_ids: set[int] | None = None
) -> list[PosterSpec]:
    """One poster per active campaign unit, in display order; ``unit_ids`` limits it (unit contacts)."""
    specs = []
    for cu in campaign_service.campaign_units(session, campaign):
        if unit_ids is not None and cu.unit_id not in unit_ids:
            continue
        specs.append(PosterSpec(
            campaign_title=campaign.title, period=campaign.period, unit_code=cu.unit.code,
            unit_name=cu.unit.name, window_no=cu.unit.window_no, code=cu.short_code,
            url=qr.short_url(base_url, cu.short_code),
            appraisal=campaign.questionnaire.kind == QuestionnaireKind.APPRAISAL,
        ))
    return specs


def font_path_from(config: Mapping[str, object]) -> str | None:
    """The optional font for Chinese text: app config ``POSTER_FONT`` or env ``PINGYI_POSTER_FONT``."""
    value = config.get("POSTER_FONT") or os.environ.get("PINGYI_POSTER_FONT")
    return str(value) if value else None


def render_pdf(specs: Iterable[PosterSpec], font_path: str | None = None) -> bytes:
    """All posters in one PDF, one A4 page each, ready to print in one go; every font embedded."""
    specs = list(specs)
    if not specs:
        raise PosterError(_("没有可以打印海报的单位。"))
    from survey.services.campaigns import poster_pdf  # ReportLab and fontTools load with the first poster

    return poster_pdf.render(specs, font_path)


def codes_zip(specs: Iterable[PosterSpec], campaign_code: str) -> bytes:
    """PNG and SVG of every unit's code, plus an index (unit, window, short code, URL) as CSV."""
    specs = list(specs)
    if not specs:
        raise PosterError(_("没有可以导出二维码的单位。"))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        index = io.StringIO()
        writer = csv.writer(index)
        writer.writerow([_("单位代码"), _("单位名称"), _("窗口号"), _("短码"), _("网址"), "PNG", "SVG"])
        for spec in specs:
            stem = safe_filename(f"{spec.unit_code}-{spec.code}")
            archive.writestr(f"png/{stem}.png", qr.png(spec.url))
            archive.writestr(f"svg/{stem}.svg", qr.svg(spec.url))
            writer.writerow([safe_cell(v) for v in (spec.unit_code, spec.unit_name, spec.window_no or "",
                                                    spec.code, spec.url, f"png/{stem}.png", f"svg/{stem}.svg")])
        archive.writestr(f"{safe_filename(campaign_code)}-index.csv", "\ufeff" + index.getvalue())
    return out.getvalue()


def safe_filename(name: str) -> str:
    """A file name any operating system and unzip tool accepts (ASCII letters, digits, - and _)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")
    return cleaned or "code"
