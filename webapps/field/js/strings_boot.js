// The labels of the first screens (sign-in, PIN): [中文, English]. Loaded with the page;
// the rest of the app's labels are in strings.js, loaded after unlock.
export const BOOT_STRINGS = {
  app_title: ["网格通 现场", "GridGov Field"],
  loading: ["正在打开…", "Opening…"],
  signin_title: ["设备登录", "Sign in this phone"],
  signin_hint: [
    "登录一次后，本机凭短 PIN 解锁，无网络也能使用。",
    "Sign in once; then a short PIN unlocks the app, with or without a network.",
  ],
  username: ["用户名", "User name"],
  password: ["密码", "Password"],
  device_label: ["设备名称", "Device name"],
  signin: ["登录", "Sign in"],
  signin_offline: ["首次登录需要网络", "The first sign-in needs a network"],
  set_pin_title: ["设置解锁 PIN", "Choose an unlock PIN"],
  set_pin_hint: [
    "4–8 位数字，只保存在本机（加密保存设备令牌），服务器不会收到。",
    "4–8 digits, kept on this phone only (it encrypts the device token); never sent.",
  ],
  pin: ["PIN", "PIN"],
  pin_again: ["再输一次 PIN", "PIN again"],
  pin_bad: ["PIN 须为 4–8 位数字", "The PIN must be 4–8 digits"],
  pin_mismatch: ["两次输入的 PIN 不一致", "The two PINs differ"],
  save_pin: ["保存 PIN", "Save PIN"],
  unlock_title: ["输入 PIN 解锁", "Enter your PIN"],
  unlock: ["解锁", "Unlock"],
  pin_wrong: ["PIN 错误，还可尝试 {n} 次", "Wrong PIN; {n} tries left"],
  pin_wiped: [
    "PIN 错误次数过多，已清除本机令牌，请重新登录（待发送的记录仍保留）",
    "Too many wrong PINs: the token was erased; sign in again (the outbox is kept)",
  ],
  other_user: ["换个账号登录", "Sign in as someone else"],
  revoked: [
    "本设备的登录已失效或被注销，请重新登录；待发送的 {n} 项已保留，登录后自动发送",
    "This device's sign-in was revoked or expired; sign in again — {n} waiting items are kept and sent after",
  ],
  net_error: ["无法连接服务器", "Cannot reach the server"],
};
