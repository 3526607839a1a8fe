//! User-facing text in Russian (default) and English: error messages by code, ledger
//! descriptions, bot messages. The frontend translates codes itself; these are for API error
//! bodies, WebSocket events, chat explanations and the bot.

use serde::{Deserialize, Serialize};

use super::errors::ErrorCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Ru,
    En,
}

impl Lang {
    /// From a Telegram `language_code` or an `Accept-Language` value: English for `en*`,
    /// Russian otherwise (the product's default).
    pub fn from_code(code: &str) -> Lang {
        let primary = code.trim().split([',', ';', '-', '_']).next().unwrap_or("").to_ascii_lowercase();
        match primary.as_str() {
            "en" => Lang::En,
            _ => Lang::Ru,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    /// Picks the text for this language.
    pub fn pick<'a>(self, ru: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Ru => ru,
            Lang::En => en,
        }
    }
}

/// The message for an error code, in `lang` (every code has one: the match is exhaustive).
pub fn error_message(code: ErrorCode, lang: Lang) -> &'static str {
    let (ru, en) = match code {
        ErrorCode::InvalidBody => ("Некорректный запрос.", "The request is malformed."),
        ErrorCode::ValidationFailed => ("Проверьте введённые данные.", "Please check the values you entered."),
        ErrorCode::InitDataMalformed => {
            ("Не удалось прочитать данные входа Telegram.", "Telegram login data could not be read.")
        }
        ErrorCode::InitDataUserInvalid => {
            ("В данных входа Telegram нет пользователя.", "Telegram login data has no valid user.")
        }
        ErrorCode::InitDataHashMissing => ("Данные входа Telegram не подписаны.", "Telegram login data is not signed."),
        ErrorCode::InitDataHashInvalid => (
            "Подпись данных Telegram неверна. Откройте приложение заново из бота.",
            "The Telegram signature is invalid. Reopen the app from the bot.",
        ),
        ErrorCode::InitDataExpired => (
            "Сессия Telegram устарела. Закройте и снова откройте приложение.",
            "The Telegram session has expired. Close and reopen the app.",
        ),
        ErrorCode::InitDataFromFuture => (
            "Время на устройстве не совпадает с серверным. Проверьте часы и откройте приложение заново.",
            "Your device clock is ahead of the server. Check the clock and reopen the app.",
        ),
        ErrorCode::Unauthorized => ("Нужно войти заново.", "Please sign in again."),
        ErrorCode::TokenExpired => ("Сессия истекла, входим заново.", "Your session expired; signing in again."),
        ErrorCode::Forbidden => ("Недостаточно прав.", "You are not allowed to do that."),
        ErrorCode::UserBlocked => ("Аккаунт заблокирован.", "This account is blocked."),
        ErrorCode::NotFound => ("Не найдено.", "Not found."),
        ErrorCode::DemoDisabled => ("Демо-вход выключен.", "Demo login is disabled."),
        ErrorCode::InsufficientCredits => {
            ("Недостаточно кредитов. Пополните баланс, чтобы продолжить.", "Not enough credits. Top up to continue.")
        }
        ErrorCode::RateLimited => {
            ("Слишком много запросов. Подождите немного.", "Too many requests. Please wait a moment.")
        }
        ErrorCode::ImageGone => (
            "Это фото больше недоступно. Прикрепите его заново — кредиты не списаны.",
            "This photo is no longer available. Attach it again — no credits were charged.",
        ),
        ErrorCode::ChatBusy => (
            "Ассистент ещё отвечает на ваши прошлые сообщения. Дождитесь ответа — кредиты не списаны.",
            "The assistant is still answering your earlier messages. Wait for the answer — no credits were charged.",
        ),
        ErrorCode::InFlightLimit => (
            "У вас уже идут генерации. Дождитесь завершения одной из них.",
            "You already have generations running. Wait for one to finish.",
        ),
        ErrorCode::QueueFull => (
            "Сервис сейчас перегружен. Попробуйте через минуту — кредиты не списаны.",
            "The service is busy. Try again in a minute — no credits were charged.",
        ),
        ErrorCode::Conflict => {
            ("Это действие уже выполнено или недоступно сейчас.", "This was already done or is not possible now.")
        }
        ErrorCode::TooManySockets => ("Слишком много открытых окон приложения.", "Too many app windows are open."),
        // uploads and media
        ErrorCode::FileMissing => ("Прикрепите фото (поле file).", "Attach a photo (field file)."),
        ErrorCode::TooLarge => ("Слишком большой файл: фото — до 5 МБ.", "The file is too large: photos up to 5 MB."),
        ErrorCode::UnsupportedType => ("Подходят только фото JPEG и PNG.", "Only JPEG and PNG photos are accepted."),
        ErrorCode::TypeMismatch => (
            "Содержимое файла не совпадает с его типом. Выберите другое фото.",
            "The file's content does not match its type. Choose another photo.",
        ),
        ErrorCode::TooManyPixels => (
            "Разрешение фото слишком большое (до 40 Мп). Выберите фото поменьше.",
            "The photo's resolution is too large (40 MP at most). Choose a smaller photo.",
        ),
        ErrorCode::CorruptImage => {
            ("Не удалось прочитать фото. Выберите другое.", "The photo could not be read. Choose another one.")
        }
        ErrorCode::DecodeFailed => (
            "Фото загрузилось не полностью. Загрузите его ещё раз или выберите другое.",
            "The photo arrived incomplete. Upload it again or choose another one.",
        ),
        ErrorCode::QuotaExceeded => (
            "Хранилище заполнено. Удалите старые фото или результаты в галерее и попробуйте снова.",
            "Your storage is full. Delete old photos or results in the gallery and try again.",
        ),
        ErrorCode::UploadNotFound => (
            "Фото не найдено или уже удалено. Загрузите его заново.",
            "The photo was not found or has been deleted. Upload it again.",
        ),
        ErrorCode::LinkExpired => ("Ссылка устарела. Обновите страницу.", "The link has expired. Refresh the page."),
        ErrorCode::InvalidCategory => ("Выберите категорию одежды.", "Choose a clothing category."),
        ErrorCode::TooManyGarments => ("Слишком много вещей за одну примерку.", "Too many items for one try-on."),
        ErrorCode::NotFinished => {
            ("Генерация ещё идёт. Подождите результата.", "The generation is still running. Wait for the result.")
        }
        ErrorCode::NoImage => (
            "Сначала прикрепите фото в чате — его и будем редактировать.",
            "Attach a photo in the chat first — that is what will be edited.",
        ),
        ErrorCode::NotAvailable => (
            "Этот способ покупки пока недоступен. Выберите пакет кредитов.",
            "This purchase is not available yet. Choose a credit pack.",
        ),
        ErrorCode::PaymentUnavailable => (
            "Платёжный сервис временно недоступен. Деньги не списаны — попробуйте через минуту.",
            "The payment service is temporarily unavailable. You were not charged — try again in a minute.",
        ),
        // generation failures: the job's credits are always returned
        ErrorCode::GenerationFailed => (
            "Не удалось создать изображение. Кредиты возвращены — попробуйте ещё раз.",
            "The image could not be created. Your credits were returned — please try again.",
        ),
        ErrorCode::ContentRejected => (
            "Запрос отклонён правилами модели. Кредиты возвращены — попробуйте другое фото или описание.",
            "The request was rejected by the model's content rules. Your credits were returned — try another photo or wording.",
        ),
        ErrorCode::ProviderTimeout => (
            "Генерация заняла слишком много времени. Кредиты возвращены.",
            "The generation took too long. Your credits were returned.",
        ),
        ErrorCode::ProviderUnknown => (
            "Связь с сервисом генерации прервалась. Кредиты возвращены — попробуйте ещё раз.",
            "The connection to the generation service was interrupted. Your credits were returned — please try again.",
        ),
        ErrorCode::ProviderDown => (
            "Сервис генерации временно недоступен. Кредиты возвращены — попробуйте позже.",
            "The generation service is temporarily unavailable. Your credits were returned — please try later.",
        ),
        ErrorCode::NoResult => (
            "Модель не вернула изображение. Кредиты возвращены — попробуйте ещё раз.",
            "The model returned no image. Your credits were returned — please try again.",
        ),
        ErrorCode::UnchangedResult => (
            "Модель вернула фото без изменений. Кредиты возвращены — попробуйте другое фото или описание.",
            "The model returned the photo unchanged. Your credits were returned — try another photo or wording.",
        ),
        ErrorCode::JobInternal => (
            "Внутренняя ошибка при генерации. Кредиты возвращены — попробуйте ещё раз.",
            "An internal error stopped the generation. Your credits were returned — please try again.",
        ),
        ErrorCode::NotCancellable => (
            "Генерация уже идёт в нейросети — её нельзя отменить. Если она не удастся, кредиты вернутся.",
            "The generation is already running at the model and cannot be cancelled. If it fails, the credits come back.",
        ),
        ErrorCode::TooSmall => (
            "Фото слишком маленькое: нужна сторона от 512 пикселей. Снимите ближе или выберите оригинал.",
            "The photo is too small: the shorter side needs at least 512 pixels. Take it closer or pick the original.",
        ),
        ErrorCode::TooDark => (
            "Фото слишком тёмное или засвеченное — на нём не разглядеть детали. Снимите при хорошем свете.",
            "The photo is too dark or washed out to see the details. Take it in good light.",
        ),
        ErrorCode::TooBlurry => (
            "Фото размыто. Держите телефон неподвижно и снимите ещё раз.",
            "The photo is blurry. Hold the phone still and take it again.",
        ),
        ErrorCode::Canceled => {
            ("Генерация отменена. Кредиты возвращены.", "The generation was cancelled. Your credits were returned.")
        }
        ErrorCode::PromoNotFound => {
            ("Такого промокода нет. Проверьте написание.", "There is no such promo code. Check the spelling.")
        }
        ErrorCode::PromoExpired => ("Срок действия промокода истёк.", "This promo code has expired."),
        ErrorCode::PromoUsedUp => {
            ("Промокод уже использован максимальное число раз.", "This promo code has been used up.")
        }
        ErrorCode::PromoAlreadyUsed => ("Вы уже использовали этот промокод.", "You have already used this promo code."),
        ErrorCode::MethodNotAllowed => ("Этот запрос не поддерживается.", "This request is not supported."),
        ErrorCode::Timeout => (
            "Сервер не дождался запроса. Проверьте связь и попробуйте ещё раз.",
            "The server timed out waiting for the request. Check the connection and try again.",
        ),
        ErrorCode::Internal => (
            "Что-то пошло не так на нашей стороне. Попробуйте ещё раз.",
            "Something went wrong on our side. Please try again.",
        ),
        ErrorCode::Unavailable => (
            "Сервис на минуту недоступен. Попробуйте ещё раз — кредиты не списаны.",
            "The service is unavailable for a moment. Try again — no credits were charged.",
        ),
        ErrorCode::AssistantModerated => (
            "Этот запрос отклонён правилами безопасности. Кредит не списан — попробуйте сформулировать иначе.",
            "This request was rejected by the safety rules. No credit was charged — try wording it differently.",
        ),
        ErrorCode::AssistantBadReply => (
            "Ассистент ответил некорректно. Кредит не списан — попробуйте ещё раз.",
            "The assistant gave an invalid answer. No credit was charged — please try again.",
        ),
        ErrorCode::ConsentRequired => (
            "Сначала примите условия: откройте документ и подтвердите согласие.",
            "Please accept the terms first: open the document and confirm your consent.",
        ),
        ErrorCode::ContactRequired => (
            "Укажите e-mail или телефон — туда придёт чек об оплате.",
            "Please give an e-mail or phone number for the payment receipt.",
        ),
        ErrorCode::RubSalesPaused => (
            "Оплата в рублях временно недоступна. Можно оплатить звёздами Telegram.",
            "Paying in roubles is temporarily unavailable. You can pay with Telegram Stars.",
        ),
        ErrorCode::AssistantUnavailable => (
            "Ассистент сейчас недоступен. Кредит не списан — попробуйте через минуту.",
            "The assistant is unavailable right now. No credit was charged — try again in a minute.",
        ),
    };
    lang.pick(ru, en)
}

/// A user-facing line for one ledger row ("Списано 2 за примерку", "Возвращено 2: генерация
/// не удалась"). `kind` and `reason` are the ledger's columns; `amount` may be signed.
pub fn ledger_description(kind: &str, reason: &str, amount: i32, lang: Lang) -> String {
    let n = amount.abs();
    match kind {
        "reserve" => {
            let (ru, en) = match reason {
                "tryon" => ("за примерку", "for a try-on"),
                "chat_message" => ("за ответ ассистента", "for an assistant reply"),
                "edit" => ("за редактирование фото", "for a photo edit"),
                _ => ("за операцию", "for an operation"),
            };
            match lang {
                Lang::Ru => format!("Списано {n} {ru}"),
                Lang::En => format!("Charged {n} {en}"),
            }
        }
        "release" => {
            let (ru, en) = refund_reason(reason);
            match lang {
                Lang::Ru => format!("Возвращено {n}: {ru}"),
                Lang::En => format!("Refunded {n}: {en}"),
            }
        }
        "grant" => {
            let (ru, en) = match reason {
                "free_monthly" => ("бесплатные кредиты на месяц", "free credits for the month"),
                "subscription" => ("кредиты по подписке", "subscription credits"),
                "subscription_carry_over" => ("перенос остатка подписки", "unused subscription credits carried over"),
                "admin" => ("от администрации", "from the team"),
                "referral" => ("бонус за приглашение", "invitation bonus"),
                "promo" => ("по промокоду", "promo code"),
                _ => ("кредиты", "credits"),
            };
            match lang {
                Lang::Ru => format!("Начислено {n}: {ru}"),
                Lang::En => format!("Added {n}: {en}"),
            }
        }
        "purchase" => match lang {
            Lang::Ru => format!("Куплено {n} кредитов"),
            Lang::En => format!("Bought {n} credits"),
        },
        "expire" => {
            let (ru, en) = match reason {
                "free_monthly" => ("бесплатные кредиты прошлого месяца", "last month's free credits"),
                "subscription" => {
                    ("кредиты закончившегося периода подписки", "credits of the ended subscription period")
                }
                _ => ("неиспользованные кредиты", "unused credits"),
            };
            match lang {
                Lang::Ru => format!("Сгорело {n}: {ru}"),
                Lang::En => format!("Expired {n}: {en}"),
            }
        }
        "payment_refund" => match lang {
            Lang::Ru => format!("Списано {n}: возврат платежа"),
            Lang::En => format!("Removed {n}: payment refunded"),
        },
        _ => match lang {
            Lang::Ru => format!("Корректировка: {amount:+}"),
            Lang::En => format!("Adjustment: {amount:+}"),
        },
    }
}

/// The bot's message after an operator's grant.
pub fn admin_grant_text(lang: Lang, credits: i32) -> String {
    match lang {
        Lang::Ru => format!("Вам начислено {credits} кредитов от команды Примерки."),
        Lang::En => format!("The Primerka team added {credits} credits to your balance."),
    }
}

/// The bot's thank-you after a payment (or a plan's renewal) was granted.
pub fn payment_received_text(lang: Lang, credits: i32, title: &str, renewal: bool) -> String {
    match (lang, renewal) {
        (Lang::Ru, false) => format!("Оплата прошла: +{credits} кредитов ({title}). Спасибо!"),
        (Lang::En, false) => format!("Payment received: +{credits} credits ({title}). Thank you!"),
        (Lang::Ru, true) => format!("Подписка «{title}» продлена на месяц: +{credits} кредитов."),
        (Lang::En, true) => format!("Your {title} plan was renewed for a month: +{credits} credits."),
    }
}

/// The bot's message when a plan ended (cancelled, or a Stars plan Telegram did not renew).
pub fn plan_ended_text(lang: Lang, title: &str) -> String {
    match lang {
        Lang::Ru => format!("Подписка «{title}» закончилась. Её можно оформить снова в разделе «Тарифы»."),
        Lang::En => format!("Your {title} plan has ended. You can subscribe again under Plans."),
    }
}

/// The description of a purchase (YooKassa's page and the receipt line).
pub fn payment_description(lang: Lang, title: &str) -> String {
    format!("{title} — {}", lang.pick("Примерка", "Primerka"))
}

/// The description of a purchase with a promo discount (YooKassa's page and the receipt line).
pub fn discounted_payment_description(lang: Lang, title: &str, percent: i32) -> String {
    match lang {
        Lang::Ru => format!("{title} — Примерка (скидка {percent}% по промокоду)"),
        Lang::En => format!("{title} — Primerka ({percent}% promo discount)"),
    }
}

/// The bot's message when a referral reward arrives (`invitee`: the invited user's side).
pub fn referral_reward_text(lang: Lang, credits: i32, invitee: bool) -> String {
    match (lang, invitee) {
        (Lang::Ru, true) => format!("Бонус за приглашение: +{credits} кредитов. Спасибо, что вы с нами!"),
        (Lang::En, true) => format!("Invitation bonus: +{credits} credits. Thank you for joining!"),
        (Lang::Ru, false) => format!("Ваш друг сделал первую покупку — вам +{credits} кредитов. Спасибо!"),
        (Lang::En, false) => {
            format!("A friend you invited made a first purchase — +{credits} credits for you. Thank you!")
        }
    }
}

/// Re-engagement: the month's free credits are back.
pub fn free_credits_back_text(lang: Lang, credits: i32) -> String {
    match lang {
        Lang::Ru => format!(
            "Новый месяц — {credits} бесплатных кредитов снова ваши. Примерьте что-нибудь новое! \
             Отключить напоминания: /reminders_off"
        ),
        Lang::En => format!(
            "A new month — your {credits} free credits are back. Try something new on! \
             Turn reminders off: /reminders_off"
        ),
    }
}

/// Re-engagement: a purchase was left unpaid.
pub fn unpaid_purchase_text(lang: Lang, title: &str) -> String {
    match lang {
        Lang::Ru => format!(
            "Покупка «{title}» не завершена. Если что-то пошло не так — её можно оформить снова в разделе «Тарифы». \
             Отключить напоминания: /reminders_off"
        ),
        Lang::En => format!(
            "Your {title} purchase was not completed. If something went wrong, you can start it again under Plans. \
             Turn reminders off: /reminders_off"
        ),
    }
}

/// The bot's answer to `/reminders_off` and `/reminders_on`.
pub fn reminders_switched_text(lang: Lang, off: bool) -> &'static str {
    match off {
        true => lang.pick(
            "Напоминания отключены. Включить снова: /reminders_on или в профиле приложения.",
            "Reminders are off. Turn them back on with /reminders_on or in the app's profile.",
        ),
        false => lang.pick(
            "Напоминания включены. Отключить: /reminders_off.",
            "Reminders are on. Turn them off with /reminders_off.",
        ),
    }
}

/// The greeting's extra line for a user who came with an invitation.
pub fn invited_text(lang: Lang, credits: i32) -> String {
    match lang {
        Lang::Ru => format!("Вас пригласил друг: после первой покупки вы оба получите по {credits} кредитов."),
        Lang::En => format!("A friend invited you: after your first purchase you both get {credits} credits."),
    }
}

/// The description of a renewal charge (YooKassa and the receipt).
pub fn renewal_description(lang: Lang, title: &str) -> String {
    format!("{title} — {}", lang.pick("продление подписки", "plan renewal"))
}

/// The bot's message after a declined renewal (`retrying`: another attempt is scheduled).
pub fn renewal_failed_text(lang: Lang, title: &str, retrying: bool) -> String {
    match (lang, retrying) {
        (Lang::Ru, true) => {
            format!(
                "Не удалось продлить подписку «{title}»: платёж отклонён. Попробуем ещё раз позже — проверьте карту."
            )
        }
        (Lang::En, true) => format!(
            "We could not renew your {title} plan: the payment was declined. We will try again later — please check your card."
        ),
        (Lang::Ru, false) => format!(
            "Подписка «{title}» не продлена: платёж не прошёл несколько раз. Её можно оформить снова в разделе «Тарифы»."
        ),
        (Lang::En, false) => format!(
            "Your {title} plan was not renewed: the payment failed several times. You can subscribe again under Plans."
        ),
    }
}

/// The description on a Telegram Stars invoice.
pub fn stars_invoice_description(lang: Lang, subscription: bool) -> &'static str {
    if subscription {
        lang.pick(
            "Подписка на 30 дней с продлением каждый месяц; отменить можно в любой момент",
            "A 30-day plan renewed monthly; cancel at any time",
        )
    } else {
        lang.pick("Кредиты для примерки и редактирования фото", "Credits for try-ons and photo edits")
    }
}

/// The pre-checkout refusal of an invoice that is no longer valid.
pub fn stale_invoice_text(lang: Lang) -> &'static str {
    lang.pick(
        "Этот счёт устарел. Откройте покупку заново в приложении — деньги не списаны.",
        "This invoice is no longer valid. Start the purchase again in the app — you were not charged.",
    )
}

/// The bot's answer to `/paysupport` (Telegram asks it of bots that take Stars).
pub fn paysupport_text(lang: Lang, contact: &str) -> String {
    match lang {
        Lang::Ru => format!(
            "Вопросы об оплате и возвратах: напишите {contact}, указав дату и сумму покупки. \
             Кредиты за неудавшиеся генерации возвращаются автоматически. \
             Автопродление подписки отключается в приложении: «Тарифы» → «Отключить автопродление»."
        ),
        Lang::En => format!(
            "Questions about payments and refunds: write to {contact} with the date and amount of the purchase. \
             Credits for failed generations are returned automatically. \
             Auto-renewal is turned off in the app: Plans → Turn off auto-renewal."
        ),
    }
}

/// A plan's line in the renewal terms: price, period, credits, renewal until cancelled.
pub fn plan_terms_line(lang: Lang, product: &super::pricing::Product) -> String {
    let price = super::pricing::format_rub(product.price_kopecks);
    let days = product.period_days.unwrap_or(30);
    match lang {
        Lang::Ru => format!(
            "- «{}» — {price} ₽ (или {} звёзд) каждые {days} дн., {} кредитов за период; списывается до отмены.",
            product.title_ru, product.price_stars, product.credits
        ),
        Lang::En => format!(
            "- {} — {price} ₽ (or {} Stars) every {days} days, {} credits per period; charged until you cancel.",
            product.title_en, product.price_stars, product.credits
        ),
    }
}

/// The bot's answer to `/terms`: the documents, each with its link.
pub fn terms_text(lang: Lang, docs: &[(String, String)]) -> String {
    let mut text = lang.pick("Документы Примерки:", "Primerka's documents:").to_string();
    for (title, url) in docs {
        text.push_str(&format!("\n• {title}: {url}"));
    }
    text.push_str(
        lang.pick("\n\nОни же — в приложении: «Профиль» → «Документы».", "\n\nAlso in the app: Profile → Documents."),
    );
    text
}

/// The operator's warning that the year's income approaches the НПД cap.
pub fn npd_cap_warning_text(income_rub: &str, cap_rub: &str, percent: i64) -> String {
    format!(
        "Доход за год — {income_rub} ₽, это {percent} % лимита НПД ({cap_rub} ₽). \
         Когда лимит будет достигнут, продажи за рубли остановятся до его увеличения или сброса \
         (POST /api/admin/npd-cap)."
    )
}

/// The bot's answer to a message it does not understand.
pub fn open_the_app_text(lang: Lang) -> &'static str {
    lang.pick(
        "Всё самое интересное — в приложении: нажмите кнопку «Примерка» внизу.",
        "Everything happens in the app: tap the button below.",
    )
}

/// The caption of a result the bot sends to the user's chat.
pub fn result_caption(lang: Lang) -> &'static str {
    lang.pick("Ваш результат из Примерки", "Your result from Primerka")
}

/// The caption of a result the bot sends by itself (the app was closed when it was ready).
pub fn result_ready_caption(lang: Lang) -> &'static str {
    lang.pick("Готово! Ваш результат из Примерки.", "Done! Your result from Primerka.")
}

/// The button under that result that opens it in the Mini App.
pub fn open_result_button(lang: Lang) -> &'static str {
    lang.pick("Открыть в приложении", "Open in the app")
}

/// A try-on category's name on its card (`domain::tryon::CATEGORY_CARDS`).
pub fn category_title(id: &str, lang: Lang) -> &'static str {
    let (ru, en) = match id {
        "outfit" => ("Образ целиком", "Whole outfit"),
        "top" => ("Верх", "Top"),
        "bottom" => ("Низ", "Bottom"),
        "dress" => ("Платье", "Dress"),
        "outerwear" => ("Верхняя одежда", "Outerwear"),
        "shoes" => ("Обувь", "Shoes"),
        "headwear" => ("Головной убор", "Headwear"),
        "glasses" => ("Очки", "Glasses"),
        "bag" => ("Сумка", "Bag"),
        "jewellery" => ("Украшения", "Jewellery"),
        "accessory" => ("Аксессуар", "Accessory"),
        _ => ("Другое", "Other"),
    };
    lang.pick(ru, en)
}

/// Why credits came back, in both languages.
pub fn refund_reason(reason: &str) -> (&'static str, &'static str) {
    match reason {
        "generation_failed" | "provider_failed" => ("генерация не удалась", "the generation failed"),
        "provider_timeout" => ("сервис генерации не ответил вовремя", "the generation service timed out"),
        "provider_unavailable" => ("сервис временно недоступен", "the service was temporarily unavailable"),
        "content_rejected" => ("запрос отклонён модерацией", "the request was rejected by moderation"),
        "no_result" | "unchanged_result" => ("модель не вернула результат", "the model returned no result"),
        "queue_full" => ("сервис был перегружен", "the service was busy"),
        "canceled" => ("вы отменили генерацию", "you cancelled the generation"),
        "assistant_unavailable" => ("ассистент недоступен", "the assistant was unavailable"),
        "assistant_refused" => ("ассистент отказался выполнять запрос", "the assistant declined the request"),
        "expired" | "crash_recovery" => ("операция прервалась", "the operation was interrupted"),
        _ => ("операция не удалась", "the operation failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes_map_to_english_or_the_russian_default() {
        assert_eq!(Lang::from_code("en"), Lang::En);
        assert_eq!(Lang::from_code("en-GB,en;q=0.9"), Lang::En);
        assert_eq!(Lang::from_code("ru"), Lang::Ru);
        assert_eq!(Lang::from_code("uk"), Lang::Ru);
        assert_eq!(Lang::from_code(""), Lang::Ru);
    }

    #[test]
    fn ledger_lines_read_like_the_design_says() {
        assert_eq!(ledger_description("reserve", "tryon", -2, Lang::Ru), "Списано 2 за примерку");
        assert_eq!(ledger_description("reserve", "tryon", -2, Lang::En), "Charged 2 for a try-on");
        assert_eq!(
            ledger_description("release", "generation_failed", 2, Lang::Ru),
            "Возвращено 2: генерация не удалась"
        );
        assert_eq!(
            ledger_description("release", "generation_failed", 2, Lang::En),
            "Refunded 2: the generation failed"
        );
        assert_eq!(ledger_description("grant", "free_monthly", 10, Lang::En), "Added 10: free credits for the month");
    }
}
