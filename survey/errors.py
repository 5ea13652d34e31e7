"""Friendly error pages in the visitor's language; a 500 rolls the session back."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from survey.extensions import db

# The title and message of each status with a page of its own, translated when one is shown (only that one:
# a scanner's 404s need not translate fourteen strings each).
HTTP_ERRORS = {
    400: (_l("请求有误"), _l("提交的内容无法处理，请检查后重试。")),
    403: (_l("没有权限"), _l("您没有访问此页面的权限。")),
    404: (_l("页面不存在"), _l("您访问的链接不存在或已失效，请检查地址或重新扫码。")),
    405: (_l("不支持的操作"), _l("此页面不支持该操作。")),
    410: (_l("已失效"), _l("此链接已失效。")),
    413: (_l("文件太大"), _l("上传的文件超过了允许的大小。")),
    429: (_l("操作太频繁"), _l("您的操作太频繁，请稍后再试。")),
}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _page(status: int, title: str, message: str):
    if _wants_json():
        return jsonify({"error": title, "message": message, "status": status}), status
    return render_template("errors/error.html", status=status, title=title, message=message), status


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return _page(400, _("页面已过期"), _("表单已过期或来源不明。请返回上一页，刷新后重新提交。"))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = exc.code or 500
        text = HTTP_ERRORS.get(code)
        if text is None:
            return _page(code, exc.name, exc.description or "")
        return _page(code, str(text[0]), str(text[1]))

    @app.errorhandler(500)
    def server_error(exc: Exception):
        db.session.rollback()
        return _page(500, _("系统繁忙"), _("服务器出现问题，您的操作没有完成。请稍后重试。"))
