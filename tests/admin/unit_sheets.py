"""Realistic unit lists as a 绩效办 keeps them: Taizhou's 97 municipal units in four categories.

Used by the setup tests and the browser test; `python -m tests.admin.unit_sheets out.xlsx`
writes the spreadsheet for trying the import by hand.
"""
from __future__ import annotations

import csv
import io
import sys

from openpyxl import Workbook

HEADERS = ["代码", "名称", "类别", "上级代码", "类型", "窗口号", "启用"]

CATEGORIES = {
    "党群口机关": [
        "市纪委监委", "市委组织部", "市委宣传部", "市委统战部", "市委政法委", "市委政策研究室", "市委改革办",
        "市直机关工委", "市委网信办", "市委编办", "市委老干部局", "市委党校", "市总工会", "团市委", "市妇联",
        "市科协", "市工商联", "市文联", "市侨联", "市残联", "市红十字会",
    ],
    "政府口机关": [
        "市政府办公室", "市发展和改革委员会", "市经济和信息化局", "市教育局", "市科学技术局", "市公安局", "市民政局",
        "市司法局", "市财政局", "市人力资源和社会保障局", "市自然资源和规划局", "市生态环境局", "市住房和城乡建设局",
        "市交通运输局", "市水利局", "市农业农村局", "市商务局", "市文化和广电旅游体育局", "市卫生健康委员会",
        "市退役军人事务局", "市应急管理局", "市审计局", "市外事办公室", "市国资委", "市市场监督管理局", "市统计局",
        "市医疗保障局", "市综合行政执法局", "市信访局", "市大数据发展管理局", "市机关事务管理局", "市金融工作办公室",
        "市投资促进中心", "市港航口岸和渔业管理局", "市社会保险事业管理服务中心", "市住房公积金管理中心",
        "市公共资源交易中心", "市行政服务中心", "市粮食和物资储备局", "市人防办", "市档案馆", "市地方志办公室",
        "市气象局", "国家税务总局台州市税务局", "台州海关",
    ],
    "公共服务企业": [
        "国网台州供电公司", "中国移动台州分公司", "中国电信台州分公司", "中国联通台州分公司", "台州市自来水有限公司",
        "台州市燃气集团", "台州市公交集团", "中国邮政台州市分公司", "华数台州广电网络", "台州市城市建设投资集团",
        "台州市交通投资集团", "台州市水务集团", "台州市环境卫生服务中心", "台州市高速公路运营公司",
    ],
    "驻地金融机构": [
        "工商银行台州分行", "农业银行台州分行", "中国银行台州分行", "建设银行台州分行", "交通银行台州分行",
        "邮储银行台州分行", "台州银行", "浙江泰隆商业银行", "浙江民泰商业银行", "台州农商银行", "浦发银行台州分行",
        "兴业银行台州分行", "中信银行台州分行", "招商银行台州分行", "人保财险台州市分公司", "中国人寿台州分公司",
        "平安产险台州中心支公司",
    ],
}
PREFIX = {"党群口机关": "DQ", "政府口机关": "ZF", "公共服务企业": "GG", "驻地金融机构": "JR"}


def taizhou_rows() -> list[list[str]]:
    """97 rows in the import's columns (all departments, active, no parents)."""
    rows = []
    for category, names in CATEGORIES.items():
        for n, name in enumerate(names, start=1):
            rows.append([f"TZ-{PREFIX[category]}{n:02d}", name, category, "", "部门", "", "是"])
    assert len(rows) == 97
    return rows


def xlsx_bytes(rows: list[list[object]], headers: list[str] = HEADERS) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "考评单位"
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows: list[list[object]], headers: list[str] = HEADERS, encoding: str = "gbk") -> bytes:
    """CSV as Excel in China saves it (GBK, CRLF) unless another encoding is asked for."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "taizhou-units.xlsx"
    data = xlsx_bytes(taizhou_rows()) if target.endswith(".xlsx") else csv_bytes(taizhou_rows())
    with open(target, "wb") as fh:
        fh.write(data)
    print(f"wrote {target}: 97 units")
