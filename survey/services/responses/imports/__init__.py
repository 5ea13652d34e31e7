"""导入答卷 (importing responses): telephone interviews, paper questionnaires and other tools' exports, brought into a campaign.

Most 群众满意度测评 are done by a survey firm (第三方测评机构) that phones people or
hands out paper questionnaires and keys the answers into a spreadsheet. The analyst
downloads a template made from the campaign's questionnaire, the firm fills it in, and
the analyst uploads it: every row is checked first and nothing is written unless the
whole file is valid; then all responses are stored in one transaction, or none.

The rules:

* one row per respondent; in an appraisal (万人评议) one row per respondent and rated
  unit, and the rows sharing a 答卷编号 form one response;
* answers are checked by the citizen page's own rules (:func:`submission.parse_answers`):
  a row is turned into the form fields that page would post;
* the submission id is derived from the campaign and the 答卷编号, so importing the same
  file again (or another file repeating 答卷编号 already imported) stores nothing twice:
  those respondents are skipped, and the preview says how many;
* responses are stored the way :func:`submission.submit_response` stores them and run
  the same after-insert hooks, so 差评 and comments open cases as web responses do. The
  deadline of such a case counts from the day of the import, because the unit could not
  act on a questionnaire before it was entered;
* the channel (电话访问, 纸质问卷, 外部导入) and the time come from the file, no
  fingerprint is stored, and the analyst who imported is recorded as ``entered_by``;
* a closed campaign still takes imports (paper questionnaires arrive late), a draft or
  a campaign not yet started does not, and neither does a channel the campaign does not
  allow. One audit entry per import names the file, the count and the channels.
"""
