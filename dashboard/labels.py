"""Chinese and English labels for the dashboard (one dictionary, one lookup)."""

from __future__ import annotations

import pandas as pd

LANGUAGES = {"zh": "中文", "en": "English"}
LOCAL_TZ = "Asia/Shanghai"
"""Times are shown in the command centre's time zone."""

TEXT: dict[str, dict[str, str]] = {
    "app_title": {"zh": "网格化管理指挥中心", "en": "Grid management command centre"},
    "district_map": {"zh": "辖区地图", "en": "District map"},
    "layers": {"zh": "图层", "en": "Layers"},
    "communities": {"zh": "社区", "en": "Communities"},
    "grids": {"zh": "网格", "en": "Grids"},
    "parts": {"zh": "部件", "en": "Parts"},
    "events": {"zh": "事件", "en": "Events"},
    "open_cases": {"zh": "在办案件", "en": "Open cases"},
    "overdue": {"zh": "超期", "en": "Overdue"},
    "shown": {"zh": "显示", "en": "Shown"},
    "of_total": {"zh": "共", "en": "of"},
    "households": {"zh": "户数", "en": "Households"},
    "worker": {"zh": "网格员", "en": "Grid worker"},
    "code": {"zh": "编码", "en": "Code"},
    "status": {"zh": "状态", "en": "Status"},
    "category": {"zh": "类别", "en": "Category"},
    "deadline": {"zh": "处置时限", "en": "Deadline"},
    "hours_left": {"zh": "剩余小时", "en": "Hours left"},
    "legend": {"zh": "图例", "en": "Legend"},
    "language": {"zh": "语言", "en": "Language"},
    "base_map": {"zh": "底图", "en": "Base map"},
    "no_data": {
        "zh": "数据库中还没有辖区：运行 `gridgov demo` 加载示例街道。",
        "en": "No district in the database yet: run `gridgov demo` to load the demo street.",
    },
    "community": {"zh": "社区", "en": "Community"},
    "part_major": {"zh": "部件大类", "en": "Part class"},
    "case_no": {"zh": "案件编号", "en": "Case no."},
    "leader": {"zh": "热点与趋势", "en": "Hotspots and trends"},
    "time_window": {"zh": "时间范围", "en": "Time window"},
    "h3_resolution": {"zh": "六边形级别 (H3)", "en": "Hexagon level (H3)"},
    "cases_in_window": {"zh": "时段内案件", "en": "Cases in the window"},
    "cases": {"zh": "案件数", "en": "Cases"},
    "heat": {"zh": "案件热力", "en": "Case heat"},
    "supervisor": {"zh": "网格员巡查覆盖", "en": "Grid-worker coverage"},
    "no_patrols": {"zh": "还没有巡查轨迹。", "en": "No patrol tracks yet."},
    "week": {"zh": "统计周", "en": "Week"},
    "mean_coverage": {"zh": "平均覆盖率", "en": "Mean coverage"},
    "unvisited_grids": {"zh": "无人巡查的网格", "en": "Grids nobody visited"},
    "workload": {"zh": "网格员工作量", "en": "Workload per worker"},
    "coverage": {"zh": "巡查覆盖率", "en": "Patrol coverage"},
    "walked_km": {"zh": "网格内步行(公里)", "en": "Walked in grid (km)"},
    "tracks": {"zh": "巡查轨迹", "en": "Patrol tracks"},
    "day": {"zh": "日期", "en": "Day"},
    "operator": {"zh": "指挥调度", "en": "Live operations"},
    "no_open_cases": {"zh": "没有在办案件。", "en": "No open cases."},
    "filters": {"zh": "筛选", "en": "Filters"},
    "source": {"zh": "来源", "en": "Source"},
    "overdue_only": {"zh": "只看超期", "en": "Overdue only"},
    "department": {"zh": "处置部门", "en": "Handling unit"},
    "reporters_masked": {"zh": "举报人（已脱敏）", "en": "Reporters (masked)"},
    "state": {"zh": "状态", "en": "Status"},
    "age_hours": {"zh": "已过小时", "en": "Age (h)"},
    "at": {"zh": "时间", "en": "Time"},
    "action": {"zh": "操作", "en": "Action"},
    "from_status": {"zh": "原状态", "en": "From"},
    "to_status": {"zh": "新状态", "en": "To"},
    "actor": {"zh": "操作人", "en": "Who"},
    "role": {"zh": "角色", "en": "Role"},
    "reason": {"zh": "原因", "en": "Reason"},
    "name": {"zh": "姓名", "en": "Name"},
    "phone": {"zh": "电话", "en": "Phone"},
    "channel": {"zh": "渠道", "en": "Channel"},
    "performance": {"zh": "部门与网格绩效", "en": "Performance by unit and grid"},
    "performance_note": {
        "zh": "结案率之外：按时处置率、超期未结、返工率、处置时长中位数、同地同类复发率。",
        "en": "Beyond closure rates: on-time handling, overdue open cases, rework, median time "
        "to fix, and recurrence of the same problem at the same place.",
    },
    "recurrence_days": {"zh": "复发统计天数", "en": "Recurrence window (days)"},
    "export_excel": {"zh": "导出 Excel", "en": "Export to Excel"},
    "name_zh": {"zh": "名称", "en": "Name"},
    "name_en": {"zh": "名称", "en": "Name"},
    "closed": {"zh": "已结案", "en": "Closed"},
    "closure_rate": {"zh": "结案率", "en": "Closure rate"},
    "on_time_rate": {"zh": "按时处置率", "en": "Handled on time"},
    "overdue_open": {"zh": "超期未结", "en": "Overdue open"},
    "rework_rate": {"zh": "返工率", "en": "Rework rate"},
    "median_hours_to_fix": {"zh": "处置时长中位数(小时)", "en": "Median hours to fix"},
    "recurrence_rate": {"zh": "复发率", "en": "Recurrence rate"},
    "area": {"zh": "区域", "en": "Area"},
    "whole_street": {"zh": "全街道", "en": "Whole street"},
    "show_performance": {"zh": "计算绩效表", "en": "Compute the performance tables"},
    "hotspots": {"zh": "热点分析", "en": "Hotspots"},
    "show_hotspots": {"zh": "热点分析 (Gi*)", "en": "Hotspot analysis (Gi*)"},
    "bin": {"zh": "置信度等级", "en": "Confidence bin"},
    "hot": {"zh": "热点", "en": "Hot"},
    "cold": {"zh": "冷点", "en": "Cold"},
    "not_significant": {"zh": "不显著", "en": "Not significant"},
    "patrol_plan": {"zh": "巡查计划", "en": "Patrol plan"},
    "n_stops": {"zh": "巡查点数", "en": "Stops"},
    "length_m": {"zh": "路线长度(米)", "en": "Route length (m)"},
    "minutes": {"zh": "用时(分钟)", "en": "Minutes"},
    "worker_code": {"zh": "网格员", "en": "Grid worker"},
    "grid_code": {"zh": "网格", "en": "Grid"},
    "false_closure_rate": {"zh": "虚假结案率", "en": "False closure rate"},
    "median_hours_to_first_response": {"zh": "首次响应(小时)", "en": "First response (h)"},
    "proactive_share": {"zh": "主动发现占比", "en": "Found by patrols"},
    "backlog_open": {"zh": "积压未结", "en": "Backlog open"},
    "backlog_median_age_days": {"zh": "积压天数中位数", "en": "Backlog median age (days)"},
    "index": {"zh": "综合指数", "en": "Composite index"},
    "rank": {"zh": "排名", "en": "Rank"},
    "cases_per_100_households": {"zh": "每百户案件", "en": "Cases per 100 households"},
    "missed_reports": {"zh": "漏报", "en": "Missed by patrols"},
    "valid_report_rate": {"zh": "有效上报率", "en": "Valid reports"},
    "accurate_dispatch_rate": {"zh": "派遣准确率", "en": "Accurate dispatch"},
    "on_time_closure_rate": {"zh": "按期结案率", "en": "Closed on time"},
    "hours_in_grid": {"zh": "网格内时长(小时)", "en": "Hours in grid"},
    "trend": {"zh": "每周案件（按大类）", "en": "Cases per week (by major class)"},
}


def t(key: str, lang: str) -> str:
    """The label ``key`` in ``lang`` ('zh' or 'en'); the key itself if unknown."""
    return TEXT.get(key, {}).get(lang, key)


def pick(zh: str, en: str, lang: str) -> str:
    """Choose between a Chinese and an English value from the database."""
    return zh if lang == "zh" else en


def localized(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """``frame`` with column names translated where a label exists."""
    return frame.rename(columns={c: t(c, lang) for c in frame.columns if c in TEXT})
