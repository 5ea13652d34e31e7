"""Posters from the command line: ``flask --app wsgi posters CAMPAIGN -o posters.pdf [--zip codes.zip]``."""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import select

from survey.core import codes, settings
from survey.extensions import db
from survey.models import Campaign
from survey.services.campaigns import posters, qr


def find_campaign(key: str) -> Campaign | None:
    """A campaign by its short code (any case, spaces and dashes ignored) or by its numeric id."""
    key = key.strip()
    if key.isdigit():
        found = db.session.get(Campaign, int(key))
        if found is not None:
            return found
    code = codes.normalise(key)
    if code is None:
        return None
    return db.session.scalar(select(Campaign).where(Campaign.short_code == code))


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise click.ClickException(f"无法写入 {path}：{exc.strerror or exc}") from exc


def register(app: Flask) -> None:
    @app.cli.command("posters")
    @click.argument("campaign")
    @click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path), required=True,
                  help="海报 PDF 的保存路径 / where to write the posters PDF")
    @click.option("--base-url", help="二维码中的网址前缀，默认取 PINGYI_PUBLIC_BASE_URL / public base URL")
    @click.option("--zip", "zip_path", type=click.Path(dir_okay=False, path_type=Path),
                  help="另存全部二维码（PNG + SVG）为 ZIP / also write every code as PNG and SVG")
    def posters_command(campaign: str, output: Path, base_url: str | None, zip_path: Path | None) -> None:
        """Print-ready A4 posters (one page per unit or window) of CAMPAIGN (short code or id)."""
        found = find_campaign(campaign)
        if found is None:
            raise click.ClickException(f"找不到评议活动 {campaign!r}（请输入活动短码或编号）。")
        try:
            base = qr.normalise_base_url(base_url or settings.public_base_url())
        except qr.BaseUrlError as exc:
            raise click.ClickException(str(exc)) from exc
        specs = posters.poster_specs(db.session, found, base)
        try:
            pdf = posters.render_pdf(specs, posters.font_path_from(current_app.config))
            archive = posters.codes_zip(specs, found.short_code) if zip_path else None
        except posters.PosterError as exc:
            raise click.ClickException(str(exc)) from exc
        _write(output, pdf)
        click.echo(f"已生成 {len(specs)} 张海报：{output}")
        if zip_path and archive is not None:
            _write(zip_path, archive)
            click.echo(f"已导出 {len(specs)} 个二维码（PNG + SVG）：{zip_path}")
