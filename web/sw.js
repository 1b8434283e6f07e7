// The page's service worker. It only shows notifications: Android Chrome lets a page show
// one only through a service worker's registration (new Notification() throws there).
// Tapping a notification brings the betting page forward, or opens it.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((client) => new URL(client.url).pathname === "/");
      return open ? open.focus() : self.clients.openWindow("/");
    }),
  );
});
