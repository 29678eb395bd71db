"""Chinese and English labels for the dashboard (one dictionary, one lookup)."""

from __future__ import annotations

import pandas as pd

from city import time_zone
from dashboard.live_labels import LIVE_TEXT

LANGUAGES = {"zh": "中文", "en": "English"}
LOCAL_TZ = time_zone().key
"""Times are shown in the command centre's time zone (the city profile's)."""

TEXT: dict[str, dict[str, str]] = {
    "app_title": {"zh": "网格化管理指挥中心", "en": "Grid management command centre"},
    "district_map": {"zh": "辖区地图", "en": "District map"},
    "layers": {"zh": "图层", "en": "Layers"},
    "chart_level": {"zh": "按层级排名", "en": "Ranked by level"},
    "communities": {"zh": "社区", "en": "Communities"},
    "departments": {"zh": "处置部门", "en": "Handling units"},
    "grids": {"zh": "网格", "en": "Grids"},
    "streets": {"zh": "街道", "en": "Streets"},
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
    "no_patrols": {
        "zh": "还没有巡查轨迹（patrol_points）：网格员的手机（/field/）巡查时上传；"
        "示例数据可用 `gridgov demo` 加载，之后运行 `gridgov analyse coverage` 计算覆盖率。"
        "下表先列出网格及其网格员，均为“无人巡查”。",
        "en": "No patrol tracks yet (patrol_points): grid workers' phones (/field/) send them "
        "while on patrol; `gridgov demo` loads a sample week, then `gridgov analyse coverage` "
        "computes the coverage. Below: the grids and their workers, all unvisited so far.",
    },
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
        "zh": "结案率之外：按时处置率、超期未结、返工率、处置时长中位数、同地同类复发率、"
        "同一部件结案后复发、巡查漏报占比、网格员负荷。",
        "en": "Beyond closure rates: on-time handling, overdue open cases, rework, median time "
        "to fix, recurrence of the same problem at the same place, the same part failing "
        "again after closing, the share patrols missed, and each worker's load.",
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
    "my_area": {"zh": "本辖区", "en": "My area"},
    "whole_city": {"zh": "全市", "en": "Whole city"},
    "per_community": {"zh": "按社区汇总", "en": "per community"},
    "aggregated_note": {
        "zh": "本范围共有{what}：超过 {limit:,} 个的图层按社区汇总着色显示（颜色越深越多）；"
        "在侧栏选择街道或社区即可逐个显示。",
        "en": "This area holds {what}: layers with more than {limit:,} features are drawn as "
        "counts per community (darker = more); pick a street or community in the sidebar to "
        "see each feature.",
    },
    "n_of": {"zh": "{n:,} 个{what}", "en": "{n:,} {what}"},
    "no_grids_yet": {
        "zh": "还没有网格：运行 `gridgov grids delineate` 按楼栋户数划分网格（先 `gridgov load "
        "buildings`）。",
        "en": "No grids yet: run `gridgov grids delineate` to draw them from the buildings' "
        "households (load them first with `gridgov load buildings`).",
    },
    "pick_district": {"zh": "区/县", "en": "District"},
    "pick_street": {"zh": "街道/镇", "en": "Street / town"},
    "whole_district_of": {"zh": "全区 · {name}", "en": "Whole district · {name}"},
    "whole_street_of": {"zh": "全街道 · {name}", "en": "Whole street · {name}"},
    "all_districts": {"zh": "全部区县", "en": "All districts"},
    "all_streets": {"zh": "全部街道", "en": "All streets"},
    "weekly": {"zh": "每周案件", "en": "Cases per week"},
    "show_performance": {"zh": "计算绩效表", "en": "Compute the performance tables"},
    "hotspots": {"zh": "热点分析", "en": "Hotspots"},
    "show_hotspots": {"zh": "热点分析 (Gi*)", "en": "Hotspot analysis (Gi*)"},
    "map_shows": {"zh": "地图显示", "en": "Map shows"},
    "auto": {"zh": "自动", "en": "Auto"},
    "heat_h3": {"zh": "六边形热力", "en": "Hexagon heat"},
    "heat_grid": {"zh": "网格热力", "en": "Heat per grid"},
    "density": {"zh": "核密度", "en": "Kernel density"},
    "grid": {"zh": "网格", "en": "Grid"},
    "per_1000": {"zh": "每千户案件", "en": "Cases per 1,000 households"},
    "cases_per_km2": {"zh": "案件/平方公里", "en": "Cases per km²"},
    "bandwidth": {"zh": "带宽", "en": "Bandwidth"},
    "from": {"zh": "自", "en": "From"},
    "to": {"zh": "至", "en": "To"},
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
    "part_code": {"zh": "部件", "en": "Part"},
    "false_closure_rate": {"zh": "虚假结案率", "en": "False closure rate"},
    "median_hours_to_first_response": {"zh": "首次响应(小时)", "en": "First response (h)"},
    "proactive_share": {"zh": "主动发现占比", "en": "Found by patrols"},
    "backlog_open": {"zh": "积压未结", "en": "Backlog open"},
    "backlog_median_age_days": {"zh": "积压天数中位数", "en": "Backlog median age (days)"},
    "index": {"zh": "综合指数", "en": "Composite index"},
    "rank": {"zh": "排名", "en": "Rank"},
    "cases_per_100_households": {"zh": "每百户案件", "en": "Cases per 100 households"},
    "missed_reports": {"zh": "漏报", "en": "Missed by patrols"},
    "missed_report_share": {"zh": "漏报占比", "en": "Share missed by patrols"},
    "satisfaction_rate": {"zh": "满意率", "en": "Satisfied"},
    "extension_rate": {"zh": "延期率", "en": "Extended"},
    "part_recurrence_rate": {"zh": "部件复发率", "en": "Same part again"},
    "places": {"zh": "反复发生的部件问题", "en": "Parts whose fault keeps coming back"},
    "workers": {"zh": "网格员负荷", "en": "Load per grid worker"},
    "place": {"zh": "部件编码", "en": "Part code"},
    "recurrences": {"zh": "结案后复发次数", "en": "Came back after closing"},
    "grid_codes": {"zh": "所管网格", "en": "Grids"},
    "households_ratio": {"zh": "户数/公平份额", "en": "Households vs fair share"},
    "cases_ratio": {"zh": "案件/公平份额", "en": "Cases vs fair share"},
    "valid_report_rate": {"zh": "有效上报率", "en": "Valid reports"},
    "accurate_dispatch_rate": {"zh": "派遣准确率", "en": "Accurate dispatch"},
    "on_time_closure_rate": {"zh": "按期结案率", "en": "Closed on time"},
    "hours_in_grid": {"zh": "网格内时长(小时)", "en": "Hours in grid"},
    "trend": {"zh": "每周案件（按大类）", "en": "Cases per week (by major class)"},
    # login and roles
    "login": {"zh": "登录", "en": "Log in"},
    "username": {"zh": "用户名", "en": "User name"},
    "password": {"zh": "密码", "en": "Password"},
    "logout": {"zh": "退出登录", "en": "Log out"},
    "login_failed": {"zh": "用户名或密码不正确。", "en": "Wrong user name or password."},
    "login_locked": {
        "zh": "登录失败次数过多，请 {seconds} 秒后再试。",
        "en": "Too many failed logins; try again in {seconds} s.",
    },
    "session_ended": {
        "zh": "会话已结束（长时间未操作或账号已停用），请重新登录。",
        "en": "Your session ended (idle too long or the login was disabled); log in again.",
    },
    "login_note": {
        "zh": "按角色与辖区显示数据：社区督导只看到本社区。",
        "en": "What you see follows your role and area: a community supervisor sees one community.",
    },
    "role_operator": {"zh": "受理员", "en": "Operator"},
    "role_dispatcher": {"zh": "派遣员", "en": "Dispatcher"},
    "role_shift_leader": {"zh": "值班长", "en": "Shift leader"},
    "role_handler": {"zh": "部门处置员", "en": "Department handler"},
    "role_grid_worker": {"zh": "网格员", "en": "Grid worker"},
    "role_supervisor": {"zh": "网格督导", "en": "Supervisor"},
    "role_leader": {"zh": "领导", "en": "Leader"},
    # base maps
    "base_none": {"zh": "无（本辖区图层）", "en": "None (district layers)"},
    "base_intranet": {"zh": "内网瓦片", "en": "Intranet tiles"},
    "base_osm": {"zh": "OpenStreetMap（需互联网）", "en": "OpenStreetMap (internet)"},
    "base_tianditu": {"zh": "天地图（需密钥）", "en": "Tianditu (key)"},
    # the case file and its actions
    "case_actions": {"zh": "可执行操作", "en": "Actions"},
    "history": {"zh": "办理记录", "en": "History"},
    "routing_reason": {"zh": "派遣依据", "en": "Routing reason"},
    "dispatch_rule": {"zh": "派遣规则", "en": "Dispatch rule"},
    "deadline_countdown": {"zh": "剩余工作时间(小时)", "en": "Working hours left"},
    "escalation_level": {"zh": "督办等级", "en": "Escalation level"},
    "pending_request": {"zh": "待审批申请", "en": "Pending request"},
    "photos": {"zh": "照片与附件", "en": "Photos and attachments"},
    "find_case_no": {"zh": "按案件编号查找", "en": "Find a case by number"},
    "case_not_found": {
        "zh": "没有你可查看的案件 {case_no}",
        "en": "No case {case_no} that you may see",
    },
    "photo_for": {"zh": "现场照片（{actions}时必传）", "en": "Photo on site (needed to {actions})"},
    "photo_needed": {
        "zh": "处置反馈需要附一张现场照片",
        "en": "Handling feedback needs a photo taken on site",
    },
    "assignments": {"zh": "派遣单位", "en": "Assigned units"},
    "department_code": {"zh": "部门", "en": "Department"},
    "assigned_at": {"zh": "派遣时间", "en": "Assigned"},
    "deadline_at": {"zh": "处置时限", "en": "Deadline"},
    "rule": {"zh": "规则", "en": "Rule"},
    "route_by_rules": {"zh": "按派遣规则", "en": "By the dispatch rules"},
    "dispatch_to": {"zh": "派遣至", "en": "Dispatch to"},
    "do_action": {"zh": "执行", "en": "Do it"},
    "action_done": {"zh": "已完成：{action} → {status}", "en": "Done: {action} → {status}"},
    "show_contacts": {
        "zh": "查看举报人联系方式（将被记录）",
        "en": "Show reporter contacts (this is recorded)",
    },
    "no_actions": {
        "zh": "当前角色对此案件没有可执行的操作。",
        "en": "Your role has no action on this case now.",
    },
    "act_accept": {"zh": "受理", "en": "Accept"},
    "act_reject": {"zh": "不予受理", "en": "Reject"},
    "act_register": {"zh": "立案", "en": "Register"},
    "act_dispatch": {"zh": "派遣", "en": "Dispatch"},
    "act_close": {"zh": "结案", "en": "Close"},
    "act_return": {"zh": "批准退回", "en": "Approve return"},
    "act_extend": {"zh": "批准延期", "en": "Approve extension"},
    "act_suspend": {"zh": "批准挂起", "en": "Approve suspension"},
    "act_deny": {"zh": "驳回申请", "en": "Deny the request"},
    "act_resume": {"zh": "恢复处置", "en": "Resume"},
    "act_start": {"zh": "开始处置", "en": "Start handling"},
    "act_handle": {"zh": "处置完毕（反馈）", "en": "Handled (feedback)"},
    "act_merge": {"zh": "合并为重复案件", "en": "Merge as a duplicate"},
    "merge_into": {
        "zh": "合并到（同类、附近、同期的在办案件）",
        "en": "Merge into (open case of the same kind, nearby, same days)",
    },
    "duplicate_choice": {
        "zh": "{case_no} · {metres:.0f} 米 · {status}",
        "en": "{case_no} · {metres:.0f} m · {status}",
    },
    "act_request_return": {"zh": "申请退回", "en": "Request return"},
    "act_request_extension": {"zh": "申请延期", "en": "Request extension"},
    "act_request_suspension": {"zh": "申请挂起", "en": "Request suspension"},
    "act_check": {"zh": "核查通过", "en": "Check passed"},
    "act_rework": {"zh": "核查不通过（返工）", "en": "Rework"},
    "act_rate": {"zh": "评价", "en": "Rate"},
    "act_archive": {"zh": "归档", "en": "Archive"},
    "act_reopen": {"zh": "重新打开", "en": "Reopen"},
    # the leader's places and pictures (issue 18)
    "choose_options": {"zh": "请选择", "en": "Choose options"},
    "heat_weekly": {"zh": "逐周热力动画", "en": "Heat week by week"},
    "major_roads": {"zh": "主要道路", "en": "Major roads"},
    "road": {"zh": "道路", "en": "Road"},
    "community_names": {"zh": "社区名称", "en": "Community names"},
    "chosen_hotspot": {"zh": "所选热点", "en": "Chosen hotspot"},
    "play": {"zh": "播放", "en": "Play"},
    "pause": {"zh": "暂停", "en": "Pause"},
    "measure": {"zh": "指标", "en": "Measure"},
    "min_sample": {"zh": "最少样本（案件数）", "en": "Minimum sample (cases)"},
    "measure_not_for_level": {
        "zh": "此指标不按这一层级统计。",
        "en": "This measure is not counted at this level.",
    },
    "hidden_small_sample": {
        "zh": "另有 {n} 个单位样本少于 {min}，未排名。",
        "en": "{n} more units have fewer than {min} in the sample and are not ranked.",
    },
    "performance_tables": {"zh": "明细表", "en": "Detail tables"},
    "hotspot_list": {"zh": "热点排行（按地点）", "en": "Hotspots by place"},
    "hotspot_period": {"zh": "统计周期", "en": "Period"},
    "last_days": {"zh": "近 {days} 天", "en": "Last {days} days"},
    "hotspot_note": {
        "zh": "{start} 至 {end} 案件最多的六边形 (H3 r9)，与上一同长周期比较；点击地点放大地图。",
        "en": "Hexagons (H3 r9) with most cases {start} to {end}, against the period before; "
        "click a place to zoom the map.",
    },
    "no_cases": {"zh": "所选范围内没有案件。", "en": "No cases in the chosen range."},
    "area_figures_coming": {
        "zh": "正在计算所选区域的指标…",
        "en": "Computing the figures of the area picked…",
    },
    "show_whole_area": {"zh": "显示全辖区", "en": "Show the whole area"},
    "near_road": {"zh": "近{road}", "en": "near {road}"},
    "cases_unit": {"zh": "件", "en": "cases"},
    "trend_new": {"zh": "上期无案件", "en": "no cases last period"},
    "previous_period": {"zh": "上期", "en": "last period"},
    "place_cases": {"zh": "地点案件（下钻）", "en": "Cases of a place (drill-down)"},
    "drill_down_hint": {
        "zh": "点击地图上的六边形或网格，或点击热点排行中的地点，查看其案件。",
        "en": "Click a hexagon or grid on the map, or a place in the hotspot list, "
        "to see its cases.",
    },
    "place_cases_of": {
        "zh": "{place}：{start} 至 {end} 共 {n} 件（最多显示 500 件）",
        "en": "{place}: {n} cases {start} to {end} (at most 500 shown)",
    },
    "major_class": {"zh": "大类", "en": "Major class"},
    "reported_at": {"zh": "上报时间", "en": "Reported"},
    "src_patrol": {"zh": "网格员巡查", "en": "Patrol"},
    "src_hotline": {"zh": "热线", "en": "Hotline"},
    "src_app": {"zh": "手机应用", "en": "App"},
    "src_web": {"zh": "网站", "en": "Web"},
    "src_sensor": {"zh": "传感器", "en": "Sensor"},
    "src_leader": {"zh": "领导交办", "en": "Leader"},
    "src_import": {"zh": "导入", "en": "Import"},
    "lon": {"zh": "经度", "en": "Longitude"},
    "lat": {"zh": "纬度", "en": "Latitude"},
    "service_code": {"zh": "类别编码", "en": "Class code"},
    "days_on_patrol": {"zh": "巡查天数", "en": "Days on patrol"},
    "km_walked": {"zh": "步行(公里)", "en": "Walked (km)"},
    "reports_made": {"zh": "上报案件", "en": "Reports made"},
}


TEXT.update(LIVE_TEXT)


def t(key: str, lang: str) -> str:
    """The label ``key`` in ``lang`` ('zh' or 'en'); the key itself if unknown."""
    return TEXT.get(key, {}).get(lang, key)


def position_text(lon: float, lat: float, accuracy_m: float | None, lang: str) -> str:
    """A case's position with how far to trust it: ``位置 31.30510, 120.60510 ±8 米`` (the
    reporter's GPS accuracy; "精度未知" / "accuracy unknown" when none was given, e.g. a
    position picked on the map or from a hotline call)."""
    where = f"{lat:.5f}, {lon:.5f}"
    if accuracy_m is None:
        return (
            f"位置 {where}（精度未知）" if lang == "zh" else f"Position {where} (accuracy unknown)"
        )
    return (
        f"位置 {where} ±{accuracy_m:.0f} 米"
        if lang == "zh"
        else f"Position {where} ±{accuracy_m:.0f} m"
    )


def pick(zh: str, en: str, lang: str) -> str:
    """Choose between a Chinese and an English value from the database."""
    return zh if lang == "zh" else en


def localized(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """``frame`` with column names translated where a label exists."""
    return frame.rename(columns={c: t(c, lang) for c in frame.columns if c in TEXT})
